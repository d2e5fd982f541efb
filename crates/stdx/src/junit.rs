//! junit: JUnit XML documents (the Jenkins dialect every CI reads), as plain values rendered
//! by [`Report::to_xml`].
//!
//! The layout is the common one: `<testsuites>` holding `<testsuite>`s holding `<testcase>`s,
//! counts on both levels (`tests`, `failures`, `errors`, and on a suite `disabled` and `skipped`
//! for the skipped cases, since readers differ in which they look for), times in seconds with
//! three decimals (a suite's `time` and `timestamp` before `skipped`), `<properties>` before the outcome, a failure's one-line message as its
//! `message` attribute and its evidence as the element's text, a skip's reason as `message`.
//!
//! Text is made safe for XML 1.0: the five markup characters are escaped, terminal colour
//! sequences and the control characters XML cannot carry are dropped, and line breaks inside
//! attribute values are written as character references so readers keep them.

use std::fmt::Write as _;
use std::time::Duration;

/// A whole document: one `<testsuites>` element.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub name: String,
    /// Written as `time` when set.
    pub time: Option<Duration>,
    pub suites: Vec<Suite>,
}

/// One `<testsuite>`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Suite {
    pub name: String,
    pub time: Option<Duration>,
    /// RFC 3339, written as `timestamp` when set.
    pub timestamp: Option<String>,
    pub properties: Vec<(String, String)>,
    pub cases: Vec<Case>,
}

/// One `<testcase>`.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub name: String,
    pub classname: Option<String>,
    pub time: Option<Duration>,
    pub properties: Vec<(String, String)>,
    pub status: Status,
    /// Written as `<system-out>` when set.
    pub system_out: Option<String>,
}

/// How a case ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Passed,
    /// `<failure message="…" type="…">description</failure>`; the description is left out
    /// when empty.
    Failed {
        message: String,
        kind: String,
        description: String,
    },
    /// `<skipped message="…"/>`.
    Skipped {
        message: String,
    },
}

impl Case {
    /// A case with only a name and a status.
    pub fn new(name: impl Into<String>, status: Status) -> Self {
        Self {
            name: name.into(),
            classname: None,
            time: None,
            properties: Vec::new(),
            status,
            system_out: None,
        }
    }
}

/// Counts of one suite or of the whole document.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub tests: usize,
    pub failures: usize,
    pub skipped: usize,
}

impl Suite {
    pub fn counts(&self) -> Counts {
        let mut counts = Counts {
            tests: self.cases.len(),
            ..Counts::default()
        };
        for case in &self.cases {
            match case.status {
                Status::Passed => {}
                Status::Failed { .. } => counts.failures += 1,
                Status::Skipped { .. } => counts.skipped += 1,
            }
        }
        counts
    }
}

impl Report {
    pub fn counts(&self) -> Counts {
        self.suites
            .iter()
            .map(Suite::counts)
            .fold(Counts::default(), |sum, one| Counts {
                tests: sum.tests + one.tests,
                failures: sum.failures + one.failures,
                skipped: sum.skipped + one.skipped,
            })
    }

    /// The document, with its XML declaration, indented by four spaces, ending in a newline.
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let counts = self.counts();
        out.push_str("<testsuites");
        attribute(&mut out, "name", &self.name);
        attribute(&mut out, "tests", &counts.tests.to_string());
        attribute(&mut out, "failures", &counts.failures.to_string());
        attribute(&mut out, "errors", "0");
        time_attribute(&mut out, self.time);
        out.push_str(">\n");
        for suite in &self.suites {
            write_suite(&mut out, suite);
        }
        out.push_str("</testsuites>\n");
        out
    }
}

fn write_suite(out: &mut String, suite: &Suite) {
    let counts = suite.counts();
    out.push_str("    <testsuite");
    attribute(out, "name", &suite.name);
    attribute(out, "tests", &counts.tests.to_string());
    attribute(out, "disabled", &counts.skipped.to_string());
    attribute(out, "errors", "0");
    attribute(out, "failures", &counts.failures.to_string());
    time_attribute(out, suite.time);
    if let Some(timestamp) = &suite.timestamp {
        attribute(out, "timestamp", timestamp);
    }
    attribute(out, "skipped", &counts.skipped.to_string());
    out.push_str(">\n");
    write_properties(out, "        ", &suite.properties);
    for case in &suite.cases {
        write_case(out, case);
    }
    out.push_str("    </testsuite>\n");
}

fn write_case(out: &mut String, case: &Case) {
    out.push_str("        <testcase");
    attribute(out, "name", &case.name);
    if let Some(classname) = &case.classname {
        attribute(out, "classname", classname);
    }
    time_attribute(out, case.time);
    let empty =
        case.properties.is_empty() && case.status == Status::Passed && case.system_out.is_none();
    if empty {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    write_properties(out, "            ", &case.properties);
    match &case.status {
        Status::Passed => {}
        Status::Failed {
            message,
            kind,
            description,
        } => {
            out.push_str("            <failure");
            attribute(out, "message", message);
            attribute(out, "type", kind);
            if description.is_empty() {
                out.push_str("/>\n");
            } else {
                out.push('>');
                text(out, description);
                out.push_str("</failure>\n");
            }
        }
        Status::Skipped { message } => {
            out.push_str("            <skipped");
            attribute(out, "message", message);
            out.push_str("/>\n");
        }
    }
    if let Some(system_out) = &case.system_out {
        out.push_str("            <system-out>");
        text(out, system_out);
        out.push_str("</system-out>\n");
    }
    out.push_str("        </testcase>\n");
}

fn write_properties(out: &mut String, indent: &str, properties: &[(String, String)]) {
    if properties.is_empty() {
        return;
    }
    let _ = writeln!(out, "{indent}<properties>");
    for (name, value) in properties {
        let _ = write!(out, "{indent}    <property");
        attribute(out, "name", name);
        attribute(out, "value", value);
        out.push_str("/>\n");
    }
    let _ = writeln!(out, "{indent}</properties>");
}

fn time_attribute(out: &mut String, time: Option<Duration>) {
    if let Some(time) = time {
        attribute(out, "time", &format!("{:.3}", time.as_secs_f64()));
    }
}

/// ` key="value"`, the value escaped for an attribute.
fn attribute(out: &mut String, key: &str, value: &str) {
    let _ = write!(out, " {key}=\"");
    escape(out, value, true);
    out.push('"');
}

fn text(out: &mut String, value: &str) {
    escape(out, value, false);
}

fn escape(out: &mut String, value: &str, in_attribute: bool) {
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' if in_attribute => out.push_str("&#10;"),
            '\r' if in_attribute => out.push_str("&#13;"),
            '\t' if in_attribute => out.push_str("&#9;"),
            '\n' | '\r' | '\t' => out.push(c),
            // A terminal colour sequence (CSI: ESC [ parameters intermediates final) goes
            // whole; a lone ESC goes alone.
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for next in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&next) {
                            break;
                        }
                    }
                }
            }
            // Not allowed in XML 1.0 at all, not even as a reference.
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => {}
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(cases: Vec<Case>) -> Report {
        Report {
            name: "doc".into(),
            time: Some(Duration::from_millis(1500)),
            suites: vec![Suite {
                name: "suite".into(),
                time: None,
                timestamp: Some("2026-12-07T12:00:00Z".into()),
                properties: vec![("mode".into(), "kind".into())],
                cases,
            }],
        }
    }

    #[test]
    fn counts_and_layout() {
        let mut failed = Case::new(
            "b",
            Status::Failed {
                message: "wrong backend".into(),
                kind: "failure".into(),
                description: "got v2".into(),
            },
        );
        failed.classname = Some("conformance.core".into());
        failed.time = Some(Duration::from_micros(12_345));
        let xml = report(vec![
            Case::new("a", Status::Passed),
            failed,
            Case::new(
                "c",
                Status::Skipped {
                    message: "no health checks".into(),
                },
            ),
        ])
        .to_xml();
        let expected = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<testsuites name=\"doc\" tests=\"3\" failures=\"1\" errors=\"0\" time=\"1.500\">
    <testsuite name=\"suite\" tests=\"3\" disabled=\"1\" errors=\"0\" failures=\"1\" timestamp=\"2026-12-07T12:00:00Z\" skipped=\"1\">
        <properties>
            <property name=\"mode\" value=\"kind\"/>
        </properties>
        <testcase name=\"a\"/>
        <testcase name=\"b\" classname=\"conformance.core\" time=\"0.012\">
            <failure message=\"wrong backend\" type=\"failure\">got v2</failure>
        </testcase>
        <testcase name=\"c\">
            <skipped message=\"no health checks\"/>
        </testcase>
    </testsuite>
</testsuites>
";
        assert_eq!(xml, expected);
    }

    #[test]
    fn text_is_escaped_and_cleaned() {
        let mut case = Case::new(
            "<x> & \"y\"",
            Status::Failed {
                message: "line one\nline two".into(),
                kind: "failure".into(),
                description: "\u{1b}[31mred\u{1b}[0m <b>\u{7}bell\ttab\nnext".into(),
            },
        );
        case.system_out = Some("it's".into());
        let xml = report(vec![case]).to_xml();
        assert!(
            xml.contains("name=\"&lt;x&gt; &amp; &quot;y&quot;\""),
            "{xml}"
        );
        assert!(xml.contains("message=\"line one&#10;line two\""), "{xml}");
        assert!(
            xml.contains(">red &lt;b&gt;bell\ttab\nnext</failure>"),
            "{xml}"
        );
        assert!(xml.contains("<system-out>it&apos;s</system-out>"), "{xml}");
    }

    #[test]
    fn an_empty_description_leaves_the_failure_element_empty() {
        let xml = report(vec![Case::new(
            "a",
            Status::Failed {
                message: "m".into(),
                kind: "cancelled".into(),
                description: String::new(),
            },
        )])
        .to_xml();
        assert!(
            xml.contains("<failure message=\"m\" type=\"cancelled\"/>"),
            "{xml}"
        );
    }
}
