//! The spec store: where specs live in the workspace and their machine state. The only
//! file-system code of the spec domain, and it goes through [`Workspace`], so nothing
//! outside the workspace root is ever touched.
//!
//! Layout (created lazily, on the first write, never at start-up):
//! ```text
//! specs/_steering/*.md          steering documents (product.md, tech.md, structure.md, …)
//! specs/_templates/<doc>.md     user overrides of the built-in templates
//! specs/<name>/spec.json        machine state; <name> is kebab-case
//! specs/<name>/requirements.md | bugfix.md, design.md, tasks.md
//! specs/.locks/<name>.lock      empty; locked while a request updates that spec's state
//! ```
//! The seed's flat layout (`specs/requirements.md`, `specs/design.md`, `specs/tasks.md`,
//! state in `specs/spec.json`) is the spec named `default`. Kiro's `.kiro/specs/<name>/`
//! folders are listed and read, never written.
//!
//! Every change of `spec.json` is a read-modify-write under an exclusive lock on the spec's
//! lock file ([`Store::update_state`]), held from the read through the write, so concurrent
//! requests (worker threads, or server processes sharing the workspace) never lose an update.
//! `save_state` is private: there is no way to write state without the lock. The lock
//! files live in one `specs/.locks/` folder rather than in each spec's folder: a lock taken
//! before a spec's first write would otherwise create its folder (a listed, empty spec) even
//! when the write is then refused. `.locks` is not a spec name, so no listing shows it, and a
//! `.gitignore` of `*` inside keeps it out of git.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::review::{Approval, Reopened, ReviewEntry};
use super::templates;
use crate::file_lock::FileLock;
use crate::workspace::{FileError, Workspace, Written};

pub const SPECS_DIR: &str = "specs";
pub const KIRO_DIR: &str = ".kiro/specs";
pub const STEERING_DIR: &str = "specs/_steering";
pub const TEMPLATES_DIR: &str = "specs/_templates";
/// The state lock files, one per spec: `<name>.lock`.
pub const LOCKS_DIR: &str = "specs/.locks";
/// How long an update waits for another request holding the same spec's state lock.
/// Updates hold it for milliseconds; running out means something is stuck, and the request
/// fails (nothing changed) instead of hanging.
pub const STATE_LOCK_WAIT: Duration = Duration::from_secs(5);
/// Change requests of a spec, under its folder.
pub const CHANGES_DIR: &str = "changes";
/// The spec name of the seed's flat layout.
pub const DEFAULT_SPEC: &str = "default";
/// Longest spec name accepted.
pub const MAX_NAME_CHARS: usize = 64;
/// Most steering documents read (a guard against a directory full of files).
const MAX_STEERING_DOCS: usize = 32;

/// Feature or bugfix: decides the first document and the phase graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    #[default]
    Feature,
    Bugfix,
}

impl Kind {
    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "feature" => Some(Kind::Feature),
            "bugfix" => Some(Kind::Bugfix),
            _ => None,
        }
    }

    /// The documents of this kind, in phase order.
    pub fn documents(self) -> [DocKind; 3] {
        match self {
            Kind::Feature => [DocKind::Requirements, DocKind::Design, DocKind::Tasks],
            Kind::Bugfix => [DocKind::Bugfix, DocKind::Design, DocKind::Tasks],
        }
    }
}

/// One spec document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    Requirements,
    Bugfix,
    Design,
    Tasks,
}

impl DocKind {
    pub const ALL: [DocKind; 4] = [
        DocKind::Requirements,
        DocKind::Bugfix,
        DocKind::Design,
        DocKind::Tasks,
    ];

    pub fn parse(text: &str) -> Option<DocKind> {
        DocKind::ALL.into_iter().find(|d| d.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Requirements => "requirements",
            DocKind::Bugfix => "bugfix",
            DocKind::Design => "design",
            DocKind::Tasks => "tasks",
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            DocKind::Requirements => "requirements.md",
            DocKind::Bugfix => "bugfix.md",
            DocKind::Design => "design.md",
            DocKind::Tasks => "tasks.md",
        }
    }

    /// The built-in template.
    pub fn builtin_template(self) -> &'static str {
        match self {
            DocKind::Requirements => templates::REQUIREMENTS,
            DocKind::Bugfix => templates::BUGFIX,
            DocKind::Design => templates::DESIGN,
            DocKind::Tasks => templates::TASKS,
        }
    }
}

/// Where a spec's files live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `specs/<name>/`.
    Native,
    /// The seed's flat `specs/` layout (the spec `default`).
    Flat,
    /// `.kiro/specs/<name>/`, read-only.
    Kiro,
}

/// A spec found in the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpecRef {
    pub name: String,
    pub source: Source,
    /// Folder relative to the workspace root, `/`-separated.
    pub dir: String,
}

impl SpecRef {
    pub fn path_of(&self, doc: DocKind) -> String {
        format!("{}/{}", self.dir, doc.file_name())
    }

    fn state_path(&self) -> String {
        format!("{}/spec.json", self.dir)
    }

    /// The lock file serializing updates of `spec.json` (spec names are unique, and no
    /// native spec is called `default`).
    fn lock_path(&self) -> String {
        format!("{LOCKS_DIR}/{}.lock", self.name)
    }

    /// `changes/<id>.md` of this spec.
    pub fn change_path(&self, id: &str) -> String {
        format!("{}/{CHANGES_DIR}/{id}.md", self.dir)
    }

    pub fn read_only(&self) -> bool {
        self.source == Source::Kiro
    }
}

/// Review status of one document (approvals come from a human channel, not from here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocStatus {
    #[default]
    Draft,
    InReview,
    Approved,
    ChangesRequested,
}

/// Per-document review state in `spec.json` (see `review.rs` for how it changes).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DocState {
    pub status: DocStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// The approval in force, set only while `status` is approved: the SHA-256 of the
    /// approved bytes, when, and through which channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// The reviewer's comment on the last decision (what to change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Why the server turned this document back to draft, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reopened: Option<Reopened>,
}

/// The open change request of a spec (at most one at a time): `changes/<id>.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeState {
    /// `NNN-slug`, the file name without `.md`.
    pub id: String,
    pub summary: String,
    pub proposed_at: String,
    /// Review state of the change document itself.
    #[serde(default)]
    pub review: DocState,
}

/// `spec.json`: the machine state of one spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SpecState {
    #[serde(default)]
    pub kind: Kind,
    /// The phase last computed from the documents (see `workflow::phase`).
    #[serde(default)]
    pub phase: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub idea: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default)]
    pub documents: BTreeMap<DocKind, DocState>,
    /// Every task status change with its evidence, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_log: Vec<TaskLogEntry>,
    /// The change request being reviewed or waiting to be applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<ChangeState>,
    /// Every review decision, oldest first (the audit trail of approvals).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<ReviewEntry>,
}

/// One `task_update`: which tasks, the new status, and the evidence given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskLogEntry {
    pub tasks: Vec<String>,
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    pub at: String,
}

/// Why a store operation failed; messages are for the model to act on.
#[derive(Debug)]
pub enum StoreError {
    InvalidName(String),
    NotFound(String),
    AlreadyExists(String),
    ReadOnly(String),
    WrongDocument {
        name: String,
        doc: DocKind,
        kind: Kind,
    },
    BadState {
        path: String,
        problem: String,
    },
    /// Another request held the spec's state lock for longer than the wait.
    Busy {
        name: String,
        lock: String,
        waited: Duration,
    },
    File(FileError),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::InvalidName(name) => write!(
                f,
                "invalid spec name {name:?}: use kebab-case (a-z, 0-9 and single hyphens, at most {MAX_NAME_CHARS} characters)"
            ),
            StoreError::NotFound(name) => {
                write!(f, "no spec named {name:?}: call spec_status without a name to list specs, or spec_init to create it")
            }
            StoreError::AlreadyExists(name) => write!(f, "spec {name:?} already exists"),
            StoreError::ReadOnly(name) => write!(
                f,
                "spec {name:?} is a Kiro spec under .kiro/specs and is read-only here; copy it to specs/{name}/ to edit it"
            ),
            StoreError::WrongDocument { name, doc, kind } => write!(
                f,
                "spec {name:?} is a {} spec and has no {} document",
                if *kind == Kind::Bugfix { "bugfix" } else { "feature" },
                doc.as_str()
            ),
            StoreError::BadState { path, problem } => write!(f, "{path} is not valid spec state: {problem}"),
            StoreError::Busy { name, lock, waited } => write!(
                f,
                "spec {name:?} is busy: another update has held its lock {lock} for over {waited:?}; nothing was changed, try again"
            ),
            StoreError::File(e) => e.fmt(f),
        }
    }
}

impl From<FileError> for StoreError {
    fn from(e: FileError) -> StoreError {
        StoreError::File(e)
    }
}

/// Whether `name` is an acceptable spec folder name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Spec storage on top of the workspace sandbox.
pub struct Store<'a> {
    ws: &'a Workspace,
    /// How long [`Store::update_state`] waits for the lock: [`STATE_LOCK_WAIT`] but in tests.
    lock_wait: Duration,
}

impl<'a> Store<'a> {
    pub fn new(ws: &'a Workspace) -> Store<'a> {
        Store {
            ws,
            lock_wait: STATE_LOCK_WAIT,
        }
    }

    /// The same store with another lock wait (tests of [`StoreError::Busy`]).
    #[cfg(test)]
    fn with_lock_wait(self, lock_wait: Duration) -> Store<'a> {
        Store { lock_wait, ..self }
    }

    /// Every spec, sorted by name; a native spec hides a Kiro spec of the same name.
    pub fn list(&self) -> Result<Vec<SpecRef>, StoreError> {
        let mut found: BTreeMap<String, SpecRef> = BTreeMap::new();
        for entry in self.ws.list_dir(KIRO_DIR)? {
            if entry.is_dir && valid_name(&entry.name) {
                let dir = format!("{KIRO_DIR}/{}", entry.name);
                found.insert(
                    entry.name.clone(),
                    SpecRef {
                        name: entry.name,
                        source: Source::Kiro,
                        dir,
                    },
                );
            }
        }
        for entry in self.ws.list_dir(SPECS_DIR)? {
            if entry.is_dir && valid_name(&entry.name) && entry.name != DEFAULT_SPEC {
                let dir = format!("{SPECS_DIR}/{}", entry.name);
                found.insert(
                    entry.name.clone(),
                    SpecRef {
                        name: entry.name,
                        source: Source::Native,
                        dir,
                    },
                );
            }
        }
        if self.flat_default_exists() {
            found.insert(DEFAULT_SPEC.to_string(), flat_default());
        }
        Ok(found.into_values().collect())
    }

    fn flat_default_exists(&self) -> bool {
        ["requirements.md", "design.md", "tasks.md", "spec.json"]
            .iter()
            .any(|f| self.ws.is_file(&format!("{SPECS_DIR}/{f}")))
    }

    /// The spec called `name`.
    pub fn find(&self, name: &str) -> Result<SpecRef, StoreError> {
        if name == DEFAULT_SPEC {
            return if self.flat_default_exists() {
                Ok(flat_default())
            } else {
                Err(StoreError::NotFound(name.into()))
            };
        }
        if !valid_name(name) {
            return Err(StoreError::InvalidName(name.to_string()));
        }
        self.list()?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| StoreError::NotFound(name.to_string()))
    }

    /// The spec called `name`, or where it would be created (`default` is the flat layout).
    pub fn locate(&self, name: &str) -> Result<SpecRef, StoreError> {
        match self.find(name) {
            Err(StoreError::NotFound(_)) if name == DEFAULT_SPEC => Ok(flat_default()),
            Err(StoreError::NotFound(_)) => Ok(SpecRef {
                name: name.to_string(),
                source: Source::Native,
                dir: format!("{SPECS_DIR}/{name}"),
            }),
            other => other,
        }
    }

    /// Creates a spec: its folder and `spec.json`. Documents are left to the assistant.
    pub fn init(&self, name: &str, kind: Kind, idea: &str) -> Result<SpecRef, StoreError> {
        if name != DEFAULT_SPEC && !valid_name(name) {
            return Err(StoreError::InvalidName(name.to_string()));
        }
        match self.find(name) {
            Ok(existing) if existing.read_only() => {
                return Err(StoreError::ReadOnly(name.to_string()))
            }
            Ok(_) => return Err(StoreError::AlreadyExists(name.to_string())),
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let spec = self.locate(name)?;
        let _lock = self.lock_state(&spec)?;
        // Checked again under the lock: a concurrent init of the same name may have won.
        if self.ws.is_file(&spec.state_path()) {
            return Err(StoreError::AlreadyExists(name.to_string()));
        }
        let state = SpecState {
            kind,
            phase: kind.documents()[0].as_str().to_string(),
            idea: idea.to_string(),
            created_at: Some(crate::clock::now_rfc3339()),
            documents: BTreeMap::new(),
            task_log: Vec::new(),
            change: None,
            reviews: Vec::new(),
        };
        self.save_state(&spec, &state)?;
        Ok(spec)
    }

    /// A document's text, `None` when it does not exist yet.
    pub fn read_doc(&self, spec: &SpecRef, doc: DocKind) -> Result<Option<String>, StoreError> {
        let path = spec.path_of(doc);
        if !self.ws.is_file(&path) {
            return Ok(None);
        }
        Ok(Some(self.ws.read_text(&path)?))
    }

    /// The text of a change request, `None` when its file does not exist.
    pub fn read_change(&self, spec: &SpecRef, id: &str) -> Result<Option<String>, StoreError> {
        let path = spec.change_path(id);
        if !self.ws.is_file(&path) {
            return Ok(None);
        }
        Ok(Some(self.ws.read_text(&path)?))
    }

    /// Writes a change request atomically (never into a read-only spec).
    pub fn write_change(
        &self,
        spec: &SpecRef,
        id: &str,
        content: &str,
    ) -> Result<Written, StoreError> {
        if spec.read_only() {
            return Err(StoreError::ReadOnly(spec.name.clone()));
        }
        Ok(self.ws.write_text(&spec.change_path(id), content)?)
    }

    /// File stems under the spec's `changes/` folder, sorted.
    pub fn change_ids(&self, spec: &SpecRef) -> Result<Vec<String>, StoreError> {
        let dir = format!("{}/{CHANGES_DIR}", spec.dir);
        Ok(self
            .ws
            .list_dir(&dir)?
            .into_iter()
            .filter(|e| !e.is_dir)
            .filter_map(|e| e.name.strip_suffix(".md").map(str::to_string))
            .collect())
    }

    /// Writes a document atomically (never into a read-only spec).
    pub fn write_doc(
        &self,
        spec: &SpecRef,
        doc: DocKind,
        content: &str,
    ) -> Result<Written, StoreError> {
        if spec.read_only() {
            return Err(StoreError::ReadOnly(spec.name.clone()));
        }
        Ok(self.ws.write_text(&spec.path_of(doc), content)?)
    }

    /// The spec's state; defaults when `spec.json` is absent (Kiro and seed specs have none).
    /// For reading only: a change goes through [`Store::update_state`].
    pub fn state(&self, spec: &SpecRef) -> Result<SpecState, StoreError> {
        let path = spec.state_path();
        if !self.ws.is_file(&path) {
            let kind = if self.ws.is_file(&spec.path_of(DocKind::Bugfix)) {
                Kind::Bugfix
            } else {
                Kind::Feature
            };
            return Ok(SpecState {
                kind,
                ..SpecState::default()
            });
        }
        let text = self.ws.read_text(&path)?;
        serde_json::from_str(&text).map_err(|e| StoreError::BadState {
            path,
            problem: e.to_string(),
        })
    }

    /// Reads `spec.json`, lets `change` modify it, and saves it if `change` succeeded and
    /// changed something, all under the spec's exclusive state lock, so no concurrent update
    /// (another thread or another process on the same workspace) is lost. Whatever else
    /// `change` reads and writes (documents, change requests) is serialized with it.
    ///
    /// Read-only (Kiro) specs fail with [`StoreError::ReadOnly`] before any lock is taken; a
    /// lock another holder keeps for [`STATE_LOCK_WAIT`] fails with [`StoreError::Busy`].
    ///
    /// The lock is not re-entrant: `change` must not update the same spec again (through
    /// this function, [`Store::init`] or `Loaded::load`/`Loaded::update`), or it would wait
    /// for itself; that is a bug, and it panics at once instead. Look again with
    /// [`Store::state`] or `Loaded::from_state`, which take no lock.
    pub fn update_state<T, E: From<StoreError>>(
        &self,
        spec: &SpecRef,
        change: impl FnOnce(&mut SpecState) -> Result<T, E>,
    ) -> Result<T, E> {
        let _lock = self.lock_state(spec)?;
        let mut state = self.state(spec)?;
        let before = state.clone();
        let out = change(&mut state)?;
        if state != before {
            self.save_state(spec, &state)?;
        }
        Ok(out)
    }

    /// Takes the spec's state lock (see [`Store::update_state`]).
    fn lock_state(&self, spec: &SpecRef) -> Result<StateLock, StoreError> {
        if spec.read_only() {
            return Err(StoreError::ReadOnly(spec.name.clone()));
        }
        let lock = spec.lock_path();
        let key = self.ws.root().join(&lock);
        let nested = HELD_LOCKS.with(|held| held.borrow().contains(&key));
        assert!(
            !nested,
            "{lock} is already held by this thread: an update of spec {:?} must not update it again",
            spec.name
        );
        if !self.ws.is_file(LOCKS_GITIGNORE) {
            self.ws.write_text(LOCKS_GITIGNORE, "*\n")?;
        }
        let Some(file) = self.ws.lock(&lock, self.lock_wait)? else {
            return Err(StoreError::Busy {
                name: spec.name.clone(),
                lock,
                waited: self.lock_wait,
            });
        };
        HELD_LOCKS.with(|held| held.borrow_mut().push(key.clone()));
        Ok(StateLock {
            _file: file,
            key,
            _not_send: PhantomData,
        })
    }

    /// Saves `spec.json` (pretty-printed, so it diffs well in git). Only under the lock.
    fn save_state(&self, spec: &SpecRef, state: &SpecState) -> Result<(), StoreError> {
        let mut text = serde_json::to_string_pretty(state).expect("spec state serializes");
        text.push('\n');
        self.ws.write_text(&spec.state_path(), &text)?;
        Ok(())
    }

    /// The effective template for `doc`: the user's override, else the built-in one.
    pub fn template(&self, doc: DocKind) -> (String, &'static str) {
        let path = format!("{TEMPLATES_DIR}/{}", doc.file_name());
        match self.ws.read_text(&path) {
            Ok(text) => (text, "workspace"),
            Err(_) => (doc.builtin_template().to_string(), "built-in"),
        }
    }

    /// Steering documents as (name without `.md`, text), sorted by name.
    pub fn steering(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut docs = Vec::new();
        for entry in self
            .ws
            .list_dir(STEERING_DIR)?
            .into_iter()
            .take(MAX_STEERING_DOCS)
        {
            let Some(stem) = entry.name.strip_suffix(".md") else {
                continue;
            };
            if entry.is_dir {
                continue;
            }
            let text = self
                .ws
                .read_text(&format!("{STEERING_DIR}/{}", entry.name))?;
            docs.push((stem.to_string(), text));
        }
        Ok(docs)
    }

    /// Writes a steering document (`product`, `tech`, `structure` or a custom name).
    pub fn write_steering(&self, name: &str, content: &str) -> Result<Written, StoreError> {
        if !valid_name(name) {
            return Err(StoreError::InvalidName(name.to_string()));
        }
        Ok(self
            .ws
            .write_text(&format!("{STEERING_DIR}/{name}.md"), content)?)
    }
}

/// Ignores the whole lock folder, itself included.
const LOCKS_GITIGNORE: &str = "specs/.locks/.gitignore";

thread_local! {
    /// The state locks this thread holds (full paths), to catch a nested update at once.
    static HELD_LOCKS: RefCell<Vec<PathBuf>> = const { RefCell::new(Vec::new()) };
}

/// A held state lock; dropping it (also while unwinding from a panic) releases it.
struct StateLock {
    _file: FileLock,
    key: PathBuf,
    /// Dropped on the thread that took it, which records it in [`HELD_LOCKS`].
    _not_send: PhantomData<*const ()>,
}

impl Drop for StateLock {
    fn drop(&mut self) {
        HELD_LOCKS.with(|held| held.borrow_mut().retain(|k| *k != self.key));
    }
}

fn flat_default() -> SpecRef {
    SpecRef {
        name: DEFAULT_SPEC.to_string(),
        source: Source::Flat,
        dir: SPECS_DIR.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tmp(std::path::PathBuf, Workspace);

    impl Tmp {
        fn new() -> Tmp {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("mcp-store-test-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temp dir");
            let ws = Workspace::new(&dir, 1 << 20).expect("workspace");
            Tmp(dir, ws)
        }

        fn write(&self, path: &str, text: &str) {
            let full = self.0.join(path);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(full, text).expect("write");
        }
    }

    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn names() {
        for good in ["a", "user-auth", "v2-api", "x1"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "",
            "A",
            "a_b",
            "-a",
            "a-",
            "a--b",
            "a/b",
            "..",
            "_steering",
            &"a".repeat(65),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn nothing_is_created_until_a_write() {
        let t = Tmp::new();
        let store = Store::new(&t.1);
        assert!(store.list().expect("list").is_empty());
        assert!(!t.0.join("specs").exists());
    }

    #[test]
    fn native_flat_and_kiro_specs_are_listed() {
        let t = Tmp::new();
        t.write("specs/requirements.md", "# seed");
        t.write("specs/user-auth/requirements.md", "# auth");
        t.write(".kiro/specs/payments/requirements.md", "# kiro");
        t.write(
            ".kiro/specs/user-auth/requirements.md",
            "# hidden by native",
        );
        t.write("specs/_steering/product.md", "# product");
        let store = Store::new(&t.1);
        let specs = store.list().expect("list");
        let summary: Vec<(&str, Source)> =
            specs.iter().map(|s| (s.name.as_str(), s.source)).collect();
        assert_eq!(
            summary,
            [
                ("default", Source::Flat),
                ("payments", Source::Kiro),
                ("user-auth", Source::Native)
            ]
        );
        let kiro = store.find("payments").expect("kiro");
        assert!(matches!(
            store.write_doc(&kiro, DocKind::Design, "x"),
            Err(StoreError::ReadOnly(_))
        ));
        assert_eq!(
            store
                .read_doc(&store.find("default").expect("flat"), DocKind::Requirements)
                .expect("read"),
            Some("# seed".into())
        );
    }

    #[test]
    fn init_writes_state_and_refuses_duplicates() {
        let t = Tmp::new();
        let store = Store::new(&t.1);
        let spec = store
            .init("todo-app", Kind::Feature, "a todo app")
            .expect("init");
        assert_eq!(spec.dir, "specs/todo-app");
        let state = store.state(&spec).expect("state");
        assert_eq!(
            (state.kind, state.phase.as_str(), state.idea.as_str()),
            (Kind::Feature, "requirements", "a todo app")
        );
        assert!(matches!(
            store.init("todo-app", Kind::Feature, ""),
            Err(StoreError::AlreadyExists(_))
        ));
        assert!(matches!(
            store.init("Bad Name", Kind::Feature, ""),
            Err(StoreError::InvalidName(_))
        ));
        let bug = store
            .init("crash-on-save", Kind::Bugfix, "")
            .expect("bugfix");
        assert_eq!(store.state(&bug).expect("state").phase, "bugfix");
    }

    #[test]
    fn corrupt_state_is_reported() {
        let t = Tmp::new();
        t.write("specs/broken/spec.json", "{not json");
        let store = Store::new(&t.1);
        let err = store
            .state(&store.find("broken").expect("listed"))
            .expect_err("corrupt");
        assert!(
            err.to_string()
                .contains("specs/broken/spec.json is not valid spec state"),
            "{err}"
        );
    }

    #[test]
    fn templates_and_steering() {
        let t = Tmp::new();
        let store = Store::new(&t.1);
        assert_eq!(store.template(DocKind::Design).1, "built-in");
        t.write("specs/_templates/design.md", "# ours");
        assert_eq!(
            store.template(DocKind::Design),
            ("# ours".to_string(), "workspace")
        );
        store.write_steering("tech", "# Rust").expect("steering");
        t.write("specs/_steering/notes.txt", "ignored");
        assert_eq!(
            store.steering().expect("steering"),
            [("tech".to_string(), "# Rust".to_string())]
        );
    }

    fn log_entry(note: String) -> TaskLogEntry {
        TaskLogEntry {
            tasks: vec!["1".into()],
            status: "done".into(),
            note,
            at: "t".into(),
        }
    }

    /// The bug this lock fixes: concurrent read-modify-writes of spec.json lost updates.
    #[test]
    fn concurrent_updates_are_all_kept() {
        const THREADS: usize = 8;
        const EACH: usize = 10;
        let t = Tmp::new();
        let spec = Store::new(&t.1)
            .init("race", Kind::Feature, "")
            .expect("init");
        std::thread::scope(|s| {
            for thread in 0..THREADS {
                let (ws, spec) = (&t.1, &spec);
                s.spawn(move || {
                    let store = Store::new(ws);
                    for i in 0..EACH {
                        store
                            .update_state(spec, |state| {
                                state.task_log.push(log_entry(format!("{thread}-{i}")));
                                Ok::<_, StoreError>(())
                            })
                            .expect("update");
                    }
                });
            }
        });
        let state = Store::new(&t.1).state(&spec).expect("state");
        let mut notes: Vec<String> = state.task_log.into_iter().map(|e| e.note).collect();
        notes.sort();
        let mut expected: Vec<String> = (0..THREADS)
            .flat_map(|t| (0..EACH).map(move |i| format!("{t}-{i}")))
            .collect();
        expected.sort();
        assert_eq!(notes, expected);
    }

    #[test]
    fn a_lock_held_too_long_is_a_busy_error_and_changes_nothing() {
        let t = Tmp::new();
        let store = Store::new(&t.1);
        let spec = store.init("slow", Kind::Feature, "").expect("init");
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|s| {
            let (ws, held) = (&t.1, &spec);
            let holder = s.spawn(move || {
                Store::new(ws).update_state(held, |state| {
                    held_tx.send(()).expect("test waits");
                    done_rx.recv().expect("test releases");
                    state.idea = "from the holder".into();
                    Ok::<_, StoreError>(())
                })
            });
            held_rx.recv().expect("holder has the lock");
            let quick = Store::new(&t.1).with_lock_wait(Duration::from_millis(50));
            let err = quick
                .update_state(&spec, |state| {
                    state.idea = "lost".into();
                    Ok::<_, StoreError>(())
                })
                .expect_err("busy");
            assert!(matches!(err, StoreError::Busy { .. }), "{err}");
            assert_eq!(
                err.to_string(),
                "spec \"slow\" is busy: another update has held its lock specs/.locks/slow.lock for over 50ms; nothing was changed, try again"
            );
            done_tx.send(()).expect("holder waits");
            holder.join().expect("no panic").expect("holder updated");
        });
        assert_eq!(store.state(&spec).expect("state").idea, "from the holder");
    }

    #[test]
    #[should_panic(expected = "is already held by this thread")]
    fn a_nested_update_of_the_same_spec_panics_instead_of_waiting_for_itself() {
        let t = Tmp::new();
        let store = Store::new(&t.1);
        let spec = store.init("nested", Kind::Feature, "").expect("init");
        let _ = store.update_state(&spec, |_| {
            store.update_state(&spec, |_| Ok::<_, StoreError>(()))
        });
    }

    #[test]
    fn failed_or_empty_updates_write_nothing_and_locks_stay_unlisted() {
        let t = Tmp::new();
        t.write("specs/seed/requirements.md", "# seed");
        t.write(".kiro/specs/payments/requirements.md", "# kiro");
        let store = Store::new(&t.1);
        let kiro = store.find("payments").expect("kiro");
        let err = store
            .update_state(&kiro, |_| Ok::<_, StoreError>(()))
            .expect_err("read-only");
        assert!(matches!(err, StoreError::ReadOnly(_)), "{err}");
        assert!(!t.0.join("specs/.locks").exists(), "refused before locking");
        let seed = store.find("seed").expect("seed");
        store
            .update_state(&seed, |_| Ok::<_, StoreError>(()))
            .expect("no change");
        let refused = store.update_state(&seed, |state| {
            state.idea = "dropped".into();
            Err::<(), _>(StoreError::NotFound("x".into()))
        });
        assert!(refused.is_err());
        assert!(!t.0.join("specs/seed/spec.json").exists(), "nothing saved");
        assert_eq!(
            std::fs::read_to_string(t.0.join("specs/.locks/.gitignore")).expect("gitignore"),
            "*\n"
        );
        assert!(t.0.join("specs/.locks/seed.lock").is_file());
        let names: Vec<String> = store
            .list()
            .expect("list")
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["payments", "seed"]);
        store
            .update_state(&seed, |state| {
                state.idea = "kept".into();
                Ok::<_, StoreError>(())
            })
            .expect("update");
        assert_eq!(store.state(&seed).expect("state").idea, "kept");
    }
}
