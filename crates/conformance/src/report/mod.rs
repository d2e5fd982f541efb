//! report: renders suite results as JUnit XML, a Gateway API ConformanceReport, Markdown and
//! conformance.json. Owned by the reports work; the results it reads are in `crate::results`.
