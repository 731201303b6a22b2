//! The dashboard's inline assets: one stylesheet and one script, embedded in the page so
//! it needs no build step, no external request and works offline.
//!
//! The script opens `/ui/events` (SSE) and re-fetches `/ui/fragment` on every event; the
//! review buttons POST `/ui/review` with the page's CSRF token in `X-CSRF-Token`.

/// The page's stylesheet.
pub const CSS: &str = r#"
:root{color-scheme:light dark;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--muted:#6e7781;--line:#d0d7de}
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem 1.5rem}
h1{font-size:1.3rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:1.4rem 0 .4rem}
h3{font-size:.95rem;margin:1rem 0 .3rem}
.spec{border:1px solid var(--line);border-radius:8px;padding:.6rem 1rem;margin:.8rem 0}
.badge{display:inline-block;border-radius:1rem;padding:0 .55rem;font-size:.8rem;border:1px solid currentColor;margin-right:.3rem}
.draft{color:var(--muted)}.in_review{color:var(--warn)}.approved{color:var(--ok)}
.changes_requested{color:var(--bad)}.edited{color:var(--bad);font-weight:600}
.phase{background:#ddf4ff;color:#0550ae;border-color:#0550ae}
table{border-collapse:collapse;margin:.3rem 0}td,th{border:1px solid var(--line);padding:.15rem .5rem;text-align:left;vertical-align:top}
tr.uncovered td{background:#ffebe9;color:#82071e}
.error{color:var(--bad)}.warning{color:var(--warn)}.info{color:var(--muted)}
progress{width:12rem;vertical-align:middle}
.queue li{margin:.4rem 0}.queue textarea{width:24rem;height:2.2rem;vertical-align:middle}
button{margin-left:.3rem}#status{color:var(--muted);font-size:.85rem}
"#;

/// The page's script: live refresh over SSE and the review buttons.
pub const JS: &str = r#"
(function(){
  const app = document.getElementById('app');
  const status = document.getElementById('status');
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  let generation = 0;
  const keyOf = (t) => { const li = t.closest('li'); return li.dataset.spec + '/' + li.dataset.doc; };
  async function refresh(){
    const r = await fetch('/ui/fragment', {cache: 'no-store'});
    if (!r.ok) return;
    const html = await r.text();
    // A live update must not wipe a comment being typed: keep each queue item's text (and
    // the caret) across the re-render; an item that left the queue takes its text along.
    const typed = new Map();
    app.querySelectorAll('li textarea').forEach((t) => { if (t.value) typed.set(keyOf(t), t.value); });
    const active = document.activeElement;
    const focus = active && active.tagName === 'TEXTAREA' && app.contains(active)
      ? [keyOf(active), active.selectionStart, active.selectionEnd] : null;
    app.innerHTML = html;
    app.querySelectorAll('li textarea').forEach((t) => {
      const key = keyOf(t);
      if (typed.has(key)) t.value = typed.get(key);
      if (focus && focus[0] === key) { t.focus(); t.setSelectionRange(focus[1], focus[2]); }
    });
    generation++; document.body.dataset.generation = generation;
  }
  function listen(){
    const es = new EventSource('/ui/events');
    es.onopen = () => { status.textContent = 'live'; };
    es.onmessage = () => { refresh(); };
    es.onerror = () => { status.textContent = 'reconnecting…'; };
  }
  app.addEventListener('click', async (ev) => {
    const b = ev.target.closest('button[data-decision]');
    if (!b) return;
    const li = b.closest('li');
    const body = new URLSearchParams({
      spec: li.dataset.spec, doc: li.dataset.doc, sha256: li.dataset.sha256,
      decision: b.dataset.decision, note: (li.querySelector('textarea') || {}).value || ''
    });
    b.disabled = true;
    const r = await fetch('/ui/review', {method: 'POST', body,
      headers: {'X-CSRF-Token': csrf, 'Content-Type': 'application/x-www-form-urlencoded'}});
    const answer = await r.json().catch(() => ({}));
    status.textContent = r.ok ? 'recorded: ' + answer.status : 'refused: ' + (answer.error || r.status);
    await refresh();
  });
  listen();
})();
"#;
