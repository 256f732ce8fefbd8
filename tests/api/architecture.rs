//! The shape of the code, checked: no import circle between the files of `src/`, no child
//! module reaching into its parent's `mod.rs` for shared items (they live in a sibling file),
//! and no function over 80 lines outside tests. docs/ARCHITECTURE.md describes the layers.
//!
//! The check reads the source as text: every `crate::a::b` and `super::x` path outside
//! `#[cfg(test)]` modules and comments is an edge to the deepest module file it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest function allowed outside tests, in lines from its signature to its closing brace.
const MAX_FN_LINES: usize = 80;

/// Each module's imports: module path to the module paths it names.
type Edges = BTreeMap<Vec<String>, BTreeSet<Vec<String>>>;

/// One source file: its module path (`["routes", "error"]`) and its code without tests.
struct Source {
    module: Vec<String>,
    is_mod_rs: bool,
    code: String,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its test modules and comments.
fn without_tests_and_comments(text: &str) -> String {
    let cut = text.find("#[cfg(test)]").unwrap_or(text.len());
    text[..cut]
        .lines()
        .map(|l| match l.trim_start().starts_with("//") {
            true => "",
            false => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files
        .into_iter()
        .filter(|p| !p.ends_with("main.rs"))
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap().with_extension("");
            let mut module: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let is_mod_rs = matches!(module.last().map(String::as_str), Some("mod" | "lib"));
            if is_mod_rs {
                module.pop();
            }
            let code = without_tests_and_comments(&std::fs::read_to_string(&p).unwrap());
            Source {
                module,
                is_mod_rs,
                code,
            }
        })
        .collect()
}

/// The path segments after each occurrence of `prefix` (`crate::`, `super::`).
fn paths_after<'a>(code: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices(prefix) {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[i + prefix.len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let segs: Vec<&str> = rest[..end].split("::").filter(|s| !s.is_empty()).collect();
        if !segs.is_empty() {
            out.push(segs);
        }
    }
    out
}

/// The deepest known module that `path` (from the crate root) names.
fn resolve(path: &[String], modules: &BTreeSet<Vec<String>>) -> Vec<String> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| modules.contains(m))
        .unwrap_or_default()
}

/// Every module's edges, and the `super::Item` uses that reach into a parent's `mod.rs`.
fn graph(sources: &[Source]) -> (Edges, Vec<String>) {
    let modules: BTreeSet<Vec<String>> = sources.iter().map(|s| s.module.clone()).collect();
    let mut edges: Edges = BTreeMap::new();
    let mut reaching_into_parent = Vec::new();
    for s in sources {
        let mut targets = BTreeSet::new();
        for segs in paths_after(&s.code, "crate::") {
            let path: Vec<String> = segs.iter().map(|x| (*x).to_owned()).collect();
            let target = resolve(&path, &modules);
            // `crate::store::Item` from inside `store/` reaches into the folder's mod.rs too.
            if !target.is_empty() && target.len() < s.module.len() && s.module.starts_with(&target)
            {
                reaching_into_parent.push(format!(
                    "src/{}: crate::{}",
                    s.module.join("/"),
                    segs.join("::")
                ));
            }
            targets.insert(target);
        }
        // `super::` of a file `a/b.rs` (or of `a/b/mod.rs`) is `a`.
        let parent: Vec<String> = s.module[..s.module.len().saturating_sub(1)].to_vec();
        for segs in paths_after(&s.code, "super::") {
            let mut path = parent.clone();
            path.extend(segs.iter().map(|x| (*x).to_owned()));
            let target = resolve(&path, &modules);
            if target == parent && !s.is_mod_rs {
                reaching_into_parent.push(format!(
                    "src/{}: super::{}",
                    s.module.join("/"),
                    segs.join("::")
                ));
            }
            targets.insert(target);
        }
        targets.remove(&s.module);
        // A child naming its own folder (`crate::store::X` from inside `store/`) is the
        // folder's re-export of a sibling, not a step up.
        targets.retain(|t| !s.module.starts_with(t) || t.is_empty());
        targets.remove(&Vec::new());
        edges.insert(s.module.clone(), targets);
    }
    (edges, reaching_into_parent)
}

/// A cycle through `start`, if there is one.
fn cycle_from(start: &Vec<String>, edges: &Edges) -> Option<Vec<String>> {
    let mut stack = vec![(start.clone(), vec![start.join("::")])];
    let mut seen = BTreeSet::new();
    while let Some((m, trail)) = stack.pop() {
        for next in edges.get(&m).into_iter().flatten() {
            if next == start {
                let mut t = trail.clone();
                t.push(next.join("::"));
                return Some(t);
            }
            if seen.insert(next.clone()) {
                let mut t = trail.clone();
                t.push(next.join("::"));
                stack.push((next.clone(), t));
            }
        }
    }
    None
}

#[test]
fn no_file_of_src_imports_a_file_that_imports_it_back() {
    let sources = sources();
    assert!(sources.len() > 20, "found only {} files", sources.len());
    let (edges, _) = graph(&sources);
    let cycles: Vec<String> = edges
        .keys()
        .filter_map(|m| cycle_from(m, &edges))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(cycles.is_empty(), "import circles:\n{}", cycles.join("\n"));
}

#[test]
fn children_share_through_sibling_files_not_through_their_parents_mod_rs() {
    let (_, reaching) = graph(&sources());
    assert!(
        reaching.is_empty(),
        "items imported from a parent's mod.rs:\n{}",
        reaching.join("\n")
    );
}

/// Removes string and character literals, so that braces inside them are not counted.
fn without_literals(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '\'' => {
                // A character literal ('{', '\n'), not a lifetime ('a).
                let mut ahead = chars.clone();
                let first = ahead.next();
                let lit = match first {
                    Some('\\') => true,
                    Some(_) => ahead.next() == Some('\''),
                    None => false,
                };
                if lit {
                    for d in chars.by_ref() {
                        if d == '\'' {
                            break;
                        }
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[test]
fn no_function_outside_tests_is_longer_than_80_lines() {
    let mut long = Vec::new();
    for s in sources() {
        let lines: Vec<String> = s.code.lines().map(without_literals).collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            let is_fn = [
                "fn ",
                "pub fn ",
                "async fn ",
                "pub async fn ",
                "pub(crate) fn ",
            ]
            .iter()
            .chain(&[
                "pub(super) fn ",
                "pub(super) async fn ",
                "const fn ",
                "pub const fn ",
            ])
            .any(|p| t.starts_with(p));
            if !is_fn {
                continue;
            }
            let mut depth = 0i64;
            let mut opened = false;
            for (j, l) in lines.iter().enumerate().skip(i) {
                for c in l.chars() {
                    match c {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth -= 1,
                        ';' if !opened && depth == 0 => break,
                        _ => {}
                    }
                }
                if (opened && depth == 0) || (!opened && l.trim_end().ends_with(';')) {
                    if j + 1 - i > MAX_FN_LINES {
                        long.push(format!(
                            "src/{}{}:{}: {} lines",
                            s.module.join("/"),
                            if s.is_mod_rs { "/mod.rs" } else { ".rs" },
                            i + 1,
                            j + 1 - i
                        ));
                    }
                    break;
                }
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines:\n{}",
        long.join("\n")
    );
}
