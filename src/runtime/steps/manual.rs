//! `manual:<what>`: a step the operator does by hand (spawn a lab and run a cell); the engine
//! waits for a person's confirmation and records who gave it. `--yes` never answers it (only
//! `--yes-manual`, for rehearsals), and it has no watchdog: a person takes the time it takes.

use crate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner};

pub struct Manual {
    id: String,
    title: String,
}

impl Manual {
    pub fn new(id: &str, title: &str) -> Manual {
        Manual {
            id: id.to_string(),
            title: title.to_string(),
        }
    }
}

impl StepRunner for Manual {
    fn id(&self) -> &str {
        &self.id
    }

    fn title(&self) -> String {
        self.title.clone()
    }

    fn mutates(&self) -> bool {
        false
    }

    fn needs_person(&self) -> bool {
        true
    }

    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        Ok(Preview {
            action: Action::Run {
                touches: Vec::new(),
            },
            commands: vec![format!("(by hand) {}", self.title)],
        })
    }

    fn run(&self, _preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        if op.verify(&format!("Done by hand: {}?", self.title)) {
            Ok(Outcome {
                touched: Vec::new(),
                summary: "done by hand".into(),
            })
        } else {
            Err(StepError::fatal(format!("`{}` was not confirmed", self.id)))
        }
    }
}
