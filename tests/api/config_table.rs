//! The configuration as documented against the configuration as declared: README.md's table
//! (under `## Configuration`) lists exactly the variables of `sesame::config::VARIABLES`, with
//! the same defaults and in the same order, and `--help` lists a command's own options before
//! the configuration flags, under a heading of their own.

use std::time::Duration;

use sesame::config::{HELP_HEADING, VARIABLES};

use crate::support::{run_command, sesame_command};

/// Longest `--help` may take.
const QUICK: Duration = Duration::from_secs(10);

/// One row of a configuration table: a variable and its default (`None`: unset).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    name: String,
    default: Option<String>,
}

/// The code's table as rows.
fn code_rows() -> Vec<Row> {
    VARIABLES
        .iter()
        .map(|v| Row {
            name: v.name.to_owned(),
            default: v.default.map(str::to_owned),
        })
        .collect()
}

fn readme() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    std::fs::read_to_string(path).expect("reading README.md")
}

/// The text between the first pair of backticks of `cell`, if it starts with one.
fn code_span(cell: &str) -> Option<&str> {
    let rest = cell.strip_prefix('`')?;
    rest.find('`').map(|end| &rest[..end])
}

/// Parses one `| variable | default | meaning |` line: the variable is a code span, the default
/// a code span (optionally followed by a remark such as "(off)") or the word `unset`.
fn parse_row(line: &str) -> Result<Row, String> {
    let cells: Vec<&str> = line
        .trim()
        .trim_start_matches('|')
        .splitn(3, '|')
        .map(str::trim)
        .collect();
    let [variable, default, _meaning] = cells[..] else {
        return Err(format!("a row without three cells: {line:?}"));
    };
    let name = code_span(variable)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("the variable is not in backticks: {line:?}"))?;
    let default = match default {
        "unset" => None,
        cell => Some(
            code_span(cell)
                .ok_or_else(|| format!("{name}: the default is neither `...` nor unset"))?
                .to_owned(),
        ),
    };
    Ok(Row {
        name: name.to_owned(),
        default,
    })
}

/// The rows of the first table under `## Configuration`, checking its header.
fn configuration_rows(markdown: &str) -> Result<Vec<Row>, String> {
    let mut lines = markdown
        .lines()
        .skip_while(|l| l.trim() != "## Configuration")
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .skip_while(|l| !l.trim_start().starts_with('|'));
    let header: Vec<String> = lines
        .next()
        .ok_or("no table under ## Configuration")?
        .split('|')
        .map(|c| c.trim().to_lowercase())
        .filter(|c| !c.is_empty())
        .collect();
    if header != ["variable", "default", "meaning"] {
        return Err(format!(
            "the table's columns are {header:?}, not variable | default | meaning"
        ));
    }
    lines
        .skip(1)
        .take_while(|l| l.trim_start().starts_with('|'))
        .map(parse_row)
        .collect()
}

fn shown(default: Option<&String>) -> String {
    default.map_or_else(|| "unset".to_owned(), |d| format!("`{d}`"))
}

/// Every way `readme` differs from `code`, one sentence naming the variable each.
fn differences(code: &[Row], readme: &[Row]) -> Vec<String> {
    let mut found = Vec::new();
    for (i, row) in readme.iter().enumerate() {
        if readme[..i].iter().any(|r| r.name == row.name) {
            found.push(format!("{} is listed twice in README.md", row.name));
        }
    }
    for row in code {
        match readme.iter().find(|r| r.name == row.name) {
            None => found.push(format!(
                "{} is in the code's table (src/config.rs) but not in README.md",
                row.name
            )),
            Some(r) if r.default != row.default => found.push(format!(
                "{}: README.md gives the default {}, the code {}",
                row.name,
                shown(r.default.as_ref()),
                shown(row.default.as_ref())
            )),
            Some(_) => {}
        }
    }
    for row in readme {
        if !code.iter().any(|r| r.name == row.name) {
            found.push(format!(
                "{} is in README.md but not in the code's table (src/config.rs)",
                row.name
            ));
        }
    }
    let order = |rows: &[Row]| rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
    if found.is_empty() && order(code) != order(readme) {
        found.push(format!(
            "README.md lists the variables in another order than the code: {:?}",
            order(code)
        ));
    }
    found
}

#[test]
fn readme_configuration_table_has_the_code_s_variables_and_defaults_in_both_directions() {
    let readme = configuration_rows(&readme()).expect("README.md's configuration table");
    let found = differences(&code_rows(), &readme);
    assert!(
        found.is_empty(),
        "README.md's configuration table and src/config.rs differ:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_table_comparison_names_each_variable_missing_added_or_with_another_default() {
    let code = code_rows();
    let mut readme = code.clone();
    let missing = readme.remove(0);
    readme[0].default = Some("changed".into());
    let changed = readme[0].name.clone();
    readme.push(Row {
        name: "NOT_A_VARIABLE".into(),
        default: None,
    });

    let found = differences(&code, &readme);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found[0].starts_with(&missing.name) && found[0].contains("not in README.md"));
    assert!(found[1].starts_with(&changed) && found[1].contains("`changed`"));
    assert!(found[2].starts_with("NOT_A_VARIABLE") && found[2].contains("not in the code"));

    let mut reordered = code.clone();
    reordered.swap(0, 1);
    assert_eq!(differences(&code, &reordered).len(), 1, "the order counts");
    assert!(differences(&code, &code).is_empty());
}

#[test]
fn the_readme_parser_reads_code_spans_remarks_and_unset_and_refuses_anything_else() {
    let markdown = "## Configuration\n\ntext\n\n\
        | variable | default | meaning |\n|---|---|---|\n\
        | `A` | `0` (off) | a \\| b |\n| `B` | unset | c |\n\n| x | y | z |\n";
    assert_eq!(
        configuration_rows(markdown),
        Ok(vec![
            Row {
                name: "A".into(),
                default: Some("0".into())
            },
            Row {
                name: "B".into(),
                default: None
            },
        ])
    );
    let bad_default = markdown.replace("unset", "none");
    assert!(configuration_rows(&bad_default).is_err_and(|e| e.contains('B')));
    assert!(configuration_rows("## Configuration\n\nno table\n\n## API\n").is_err());
    let other_columns = markdown.replace("| variable | default |", "| name | value |");
    assert!(configuration_rows(&other_columns).is_err());
}

/// The heading each line of a help text is listed under (`None` before the first one).
fn headings(help: &str) -> Vec<(Option<&str>, &str)> {
    let mut heading = None;
    help.lines()
        .map(|line| {
            if !line.starts_with(' ') && line.ends_with(':') {
                heading = Some(line.trim_end_matches(':'));
            }
            (heading, line)
        })
        .collect()
}

/// Whether `line` lists the option `flag` (e.g. `      --email <EMAIL>  Email address`).
fn lists(line: &str, flag: &str) -> bool {
    let option = line.trim_start();
    option == flag || option.starts_with(&format!("{flag} "))
}

#[test]
fn user_create_help_shows_email_before_any_configuration_option_and_under_another_heading() {
    let mut cmd = sesame_command();
    cmd.args(["user", "create", "--help"]);
    let run = run_command(cmd, None, QUICK);
    run.assert_ok();
    let lines = headings(&run.stdout);
    let position = |flag: &str| lines.iter().position(|(_, l)| lists(l, flag));

    let email = position("--email").expect("--email is listed");
    for variable in VARIABLES {
        let flag = variable.flag();
        let at = position(&flag).unwrap_or_else(|| panic!("{flag} is listed\n{}", run.show()));
        assert!(email < at, "--email comes before {flag}\n{}", run.show());
        assert_eq!(lines[at].0, Some(HELP_HEADING), "{flag}\n{}", run.show());
    }
    let own = lines[email].0;
    assert!(own.is_some(), "--email is under a heading\n{}", run.show());
    assert_ne!(own, Some(HELP_HEADING), "{}", run.show());
}
