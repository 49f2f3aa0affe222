//! `manual:<what>`: a step the operator does by hand (spawn a lab and run a cell); the engine
//! waits for their confirmation and records it.

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

    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        Ok(Preview {
            action: Action::Run {
                touches: Vec::new(),
            },
            commands: vec![format!("(by hand) {}", self.title)],
        })
    }

    fn run(&self, _preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        if op.confirm(&format!("Done by hand: {}?", self.title)) {
            Ok(Outcome {
                touched: Vec::new(),
                summary: "confirmed by the operator".into(),
            })
        } else {
            Err(StepError::fatal(format!("`{}` was not confirmed", self.id)))
        }
    }
}
