//! The one event type steps emit, from any thread: what the xtask renders (one folded group
//! per step under GitHub Actions, prefixed lines elsewhere). Never carries a secret.

use crate::graph::Timing;

#[derive(Debug, Clone)]
pub struct Event {
    /// The step it belongs to (`run` for the run as a whole).
    pub step: String,
    pub kind: EventKind,
}

#[derive(Debug, Clone)]
pub enum EventKind {
    Started,
    /// Progress worth a line: what is being done, what was found.
    Info(String),
    /// Something the user must notice that does not fail the step.
    Warning(String),
    Finished(Timing),
}

/// Where events go. Must be callable from every step's thread.
pub type Sink<'a> = dyn Fn(Event) + Sync + 'a;

/// A step's handle on the sink: events carry the step's name.
#[derive(Clone, Copy)]
pub struct Emitter<'a> {
    pub step: &'a str,
    pub sink: &'a Sink<'a>,
}

impl Emitter<'_> {
    pub fn info(&self, line: impl Into<String>) {
        (self.sink)(Event {
            step: self.step.to_owned(),
            kind: EventKind::Info(line.into()),
        });
    }

    pub fn warn(&self, line: impl Into<String>) {
        (self.sink)(Event {
            step: self.step.to_owned(),
            kind: EventKind::Warning(line.into()),
        });
    }

    /// The cluster crate's events, as this step's.
    pub fn cluster(&self, event: cluster::Event) {
        match event {
            cluster::Event::Step(line) => self.info(line),
            cluster::Event::Unchanged(line) => self.info(format!("unchanged: {line}")),
            cluster::Event::Warning(line) => self.warn(line),
        }
    }
}
