//! `check-db-role:<role>` (at `enable-v3`): after `postgres` is synced, the in-cluster
//! PostgreSQL server must have the role nublado v3's hub connects as (the `*_db` block of the
//! postgres values creates it); without it the hub cannot start. Reads only.

use std::sync::Arc;

use super::{StepEnv, Timing, with_retries};
use crate::playbook::Step;
use crate::runtime::clients::postgres::PostgresApi;
use crate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner};

pub struct DbRoleCheck {
    id: String,
    title: String,
    role: String,
    password_var: String,
    pg: Arc<dyn PostgresApi>,
    timing: Timing,
}

impl DbRoleCheck {
    pub fn new(step: &Step, env: &StepEnv, role: &str, pg: Arc<dyn PostgresApi>) -> DbRoleCheck {
        DbRoleCheck {
            id: step.id.clone(),
            title: step.title.clone(),
            role: role.to_string(),
            password_var: super::token_var(&env.postgres_password_var, "PGPASSWORD"),
            pg,
            timing: env.timing.clone(),
        }
    }
}

impl StepRunner for DbRoleCheck {
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
            commands: vec![format!(
                "PGPASSWORD={} psql '{}' -c \"SELECT 1 FROM pg_roles WHERE rolname = '{}'\"",
                self.password_var,
                self.pg.url(),
                self.role
            )],
        })
    }

    fn run(&self, _preview: &Preview, _op: &mut dyn Operator) -> Result<Outcome, StepError> {
        if with_retries(&self.timing, || self.pg.role_exists(&self.role))? {
            return Ok(Outcome {
                touched: Vec::new(),
                summary: format!("the role `{}` exists on {}", self.role, self.pg.url()),
            });
        }
        Err(StepError::fatal(format!(
            "the role `{}` does not exist on {}: the postgres values have no `*_db` block with `user: {}`, or `postgres` was not synced since it was added; fix that, sync `postgres` and continue with --resume",
            self.role,
            self.pg.url(),
            self.role
        )))
    }
}
