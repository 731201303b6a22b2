//! Finding tasks that wait on each other, so none of them can ever start.
//!
//! The graph: task T → D for every dependency T waits on (its own and inherited, see
//! `schedule.rs`), and parent → sub-task, because a parent is only done once its
//! sub-tasks are. So "2.1 depends on 2" is a cycle: 2 cannot be done before 2.1.
//!
//! Each strongly connected component with a cycle is reported once, with its members
//! and one shortest concrete cycle through its first member, so overlapping cycles
//! (1 → 2 → 1 and 1 → 2 → 2.1 → 1) give one diagnostic, not two. Both searches are
//! iterative: a long chain of dependencies cannot overflow the stack.

use std::collections::{HashMap, VecDeque};

use super::schedule::waits_on;
use super::tasks::{Task, TasksDoc};

/// Tasks that wait on each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cycle<'a> {
    /// Every task in the knot, in document order.
    pub members: Vec<&'a Task>,
    /// One concrete cycle from the first member back to it (first member not repeated).
    pub path: Vec<&'a Task>,
}

/// All knots of mutually waiting tasks, ordered by their first member.
pub(crate) fn dependency_cycles(doc: &TasksDoc) -> Vec<Cycle<'_>> {
    let graph = Graph::new(doc);
    let mut out = Vec::new();
    for mut scc in graph.components() {
        scc.sort_unstable();
        // Components are never empty; `first` (the earliest task) anchors the path.
        let Some(&first) = scc.first() else { continue };
        let looped = scc.len() > 1 || graph.edges[first].contains(&first);
        if looped {
            let path = graph.shortest_cycle(first, &scc);
            let members = scc.iter().map(|&i| graph.tasks[i]).collect();
            out.push(Cycle {
                members,
                path: path.into_iter().map(|i| graph.tasks[i]).collect(),
            });
        }
    }
    out.sort_by_key(|c| c.members.first().map(|t| t.line));
    out
}

/// The waits-on graph over unique task IDs (first occurrence); node order is document
/// order.
struct Graph<'a> {
    tasks: Vec<&'a Task>,
    edges: Vec<Vec<usize>>,
}

impl<'a> Graph<'a> {
    fn new(doc: &'a TasksDoc) -> Self {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut tasks = Vec::new();
        for t in &doc.tasks {
            index.entry(t.id.as_str()).or_insert_with(|| {
                tasks.push(t);
                tasks.len() - 1
            });
        }
        let edges = tasks
            .iter()
            .map(|t| {
                let deps = waits_on(doc, t)
                    .into_iter()
                    .chain(t.children.iter().map(String::as_str));
                deps.filter_map(|d| index.get(d).copied()).collect()
            })
            .collect();
        Graph { tasks, edges }
    }

    /// Strongly connected components (Tarjan's algorithm with an explicit stack).
    fn components(&self) -> Vec<Vec<usize>> {
        let n = self.tasks.len();
        let mut t = Tarjan {
            index: vec![None; n],
            low: vec![0; n],
            on_stack: vec![false; n],
            ..Tarjan::default()
        };
        for root in 0..n {
            if t.index[root].is_some() {
                continue;
            }
            t.visit(root);
            let mut calls: Vec<(usize, usize)> = vec![(root, 0)];
            while let Some(&mut (node, ref mut next)) = calls.last_mut() {
                if let Some(&to) = self.edges[node].get(*next) {
                    *next += 1;
                    match t.index[to] {
                        None => {
                            t.visit(to);
                            calls.push((to, 0));
                        }
                        Some(i) if t.on_stack[to] => t.low[node] = t.low[node].min(i),
                        Some(_) => {}
                    }
                    continue;
                }
                calls.pop();
                if let Some(&(parent, _)) = calls.last() {
                    t.low[parent] = t.low[parent].min(t.low[node]);
                }
                t.finish(node);
            }
        }
        t.components
    }

    /// The shortest path `start → … → start` using only `members` (breadth-first), as
    /// nodes from `start` without repeating it. `start` is known to lie on a cycle.
    fn shortest_cycle(&self, start: usize, members: &[usize]) -> Vec<usize> {
        let mut previous: HashMap<usize, usize> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(node) = queue.pop_front() {
            for &to in &self.edges[node] {
                if to == start {
                    return unwind(&previous, start, node);
                }
                if members.binary_search(&to).is_ok() && !previous.contains_key(&to) {
                    previous.insert(to, node);
                    queue.push_back(to);
                }
            }
        }
        vec![start]
    }
}

/// The path from `start` to `end` recorded in `previous`, `start` first.
fn unwind(previous: &HashMap<usize, usize>, start: usize, end: usize) -> Vec<usize> {
    let mut path = vec![end];
    let mut node = end;
    while node != start {
        match previous.get(&node) {
            Some(&p) => node = p,
            None => break,
        }
        path.push(node);
    }
    path.reverse();
    path
}

#[derive(Default)]
struct Tarjan {
    next_index: usize,
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    components: Vec<Vec<usize>>,
}

impl Tarjan {
    fn visit(&mut self, node: usize) {
        self.index[node] = Some(self.next_index);
        self.low[node] = self.next_index;
        self.next_index += 1;
        self.stack.push(node);
        self.on_stack[node] = true;
    }

    /// Pops a finished component when `node` is its root.
    fn finish(&mut self, node: usize) {
        if self.index[node] != Some(self.low[node]) {
            return;
        }
        let mut component = Vec::new();
        while let Some(member) = self.stack.pop() {
            self.on_stack[member] = false;
            component.push(member);
            if member == node {
                break;
            }
        }
        self.components.push(component);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::tasks::parse_tasks;

    fn cycles(text: &str) -> Vec<(Vec<String>, Vec<String>)> {
        let doc = parse_tasks(text);
        let ids = |ts: &[&Task]| ts.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
        dependency_cycles(&doc)
            .iter()
            .map(|c| (ids(&c.members), ids(&c.path)))
            .collect()
    }

    #[test]
    fn cycles_table() {
        type Want<'a> = &'a [(&'a [&'a str], &'a [&'a str])];
        let cases: &[(&str, &str, Want<'_>)] = &[
            ("mutual", "- [ ] 1. A\n  - _Depends: 2_\n- [ ] 2. B\n  - _Depends: 1_\n", &[(&["1", "2"], &["1", "2"])]),
            ("self", "- [ ] 1. A\n  - _Depends: 1_\n", &[(&["1"], &["1"])]),
            ("child waits on parent", "- [ ] 2. A\n  - [ ] 2.1 B\n    - _Depends: 2_\n", &[(&["2", "2.1"], &["2", "2.1"])]),
            ("parent waits on child", "- [ ] 2. A\n  - _Depends: 2.1_\n  - [ ] 2.1 B\n  - [ ] 2.2 C\n", &[]),
            ("diamond", "- [ ] 1. A\n  - _Depends: 2_\n- [ ] 2. B\n- [ ] 3. C\n  - _Depends: 1, 2_\n", &[]),
            (
                "through sub-tasks",
                "- [ ] 1. A\n  - [ ] 1.1 B\n    - _Depends: 2_\n- [ ] 2. C\n  - [ ] 2.1 D\n    - _Depends: 1_\n",
                &[(&["1", "1.1", "2", "2.1"], &["1", "1.1", "2", "2.1"])],
            ),
            (
                "three",
                "- [ ] 1. A\n  - _Depends: 3_\n- [ ] 2. B\n  - _Depends: 1_\n- [ ] 3. C\n  - _Depends: 2_\n",
                &[(&["1", "2", "3"], &["1", "3", "2"])],
            ),
            (
                "overlapping cycles are one knot",
                "- [ ] 1. A\n  - _Depends: 2_\n- [ ] 2. B\n  - _Depends: 1_\n  - [ ] 2.1 C\n",
                &[(&["1", "2", "2.1"], &["1", "2"])],
            ),
            (
                "two separate knots",
                "- [ ] 1. A\n  - _Depends: 1_\n- [ ] 2. B\n  - _Depends: 3_\n- [ ] 3. C\n  - _Depends: 2_\n",
                &[(&["1"], &["1"]), (&["2", "3"], &["2", "3"])],
            ),
        ];
        for (name, text, want) in cases {
            let want: Vec<(Vec<String>, Vec<String>)> = want
                .iter()
                .map(|(m, p)| {
                    (
                        m.iter().map(|s| s.to_string()).collect(),
                        p.iter().map(|s| s.to_string()).collect(),
                    )
                })
                .collect();
            assert_eq!(cycles(text), want, "{name}");
        }
    }

    #[test]
    fn long_chains_do_not_recurse() {
        let mut text = String::new();
        for i in 1..=20_000 {
            text.push_str(&format!("- [ ] {i}. T\n  - _Depends: {}_\n", i + 1));
        }
        text.push_str("- [ ] 20001. Last\n  - _Depends: 1_\n");
        let found = cycles(&text);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0.len(), 20_001);
    }
}
