//! `database-cleanup` (at `finish`): the v2 hub's session database goes. With the PostgreSQL
//! server of the environment configured, the step refuses
//!
//! - when nublado v3's hub uses that database: its effective `jupyterhub.hub.db.url` (the
//!   environment's values file, else the chart default, which in several chart versions names
//!   `jupyterhub`), or when that cannot be told;
//! - while any client is connected to database `jupyterhub` (`pg_stat_activity`);
//!
//! then saves a `pg_dump` of it (custom format, a new file readable by its owner only), checks
//! that the dump reads back (`pg_restore --list`), and only then drops database `jupyterhub`
//! and role `jovyan`. Nothing is forced: `DROP DATABASE` without `FORCE` fails if a client
//! connects in between; `psql` never prompts (`-w`). Idempotent: what is already gone is
//! skipped, so a rerun after an interruption finishes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::vault::create_private;
use super::{StepEnv, Timing, with_retries};
use crate::playbook::Step;
use crate::repo::nublado::database::HubDatabase;
use crate::runtime::clients::postgres::{PostgresApi, ident, literal, with_database};
use crate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner};

/// The v2 hub's database and role (`jupyterhub_db` of `applications/postgres/values-<env>.yaml`).
pub const DATABASE: &str = "jupyterhub";
pub const ROLE: &str = "jovyan";

pub struct DatabaseCleanup {
    id: String,
    title: String,
    db: String,
    role: String,
    backup_dir: PathBuf,
    password_var: String,
    pg: Arc<dyn PostgresApi>,
    timing: Timing,
    env: String,
    /// nublado v3's hub database in the environment (`None`: it cannot be told).
    v3: Option<HubDatabase>,
}

impl DatabaseCleanup {
    pub fn new(
        step: &Step,
        env: &StepEnv,
        backup_dir: &Path,
        pg: Arc<dyn PostgresApi>,
    ) -> DatabaseCleanup {
        DatabaseCleanup {
            id: step.id.clone(),
            title: step.title.clone(),
            db: DATABASE.into(),
            role: ROLE.into(),
            backup_dir: backup_dir.to_path_buf(),
            password_var: super::token_var(&env.postgres_password_var, "PGPASSWORD"),
            pg,
            timing: env.timing.clone(),
            env: env.name.clone(),
            v3: env.v3_hub_database.clone(),
        }
    }

    /// Refuses to drop a database nublado v3's hub uses, or one it cannot tell it does not.
    fn refuse_if_in_use(&self) -> Result<(), StepError> {
        let db = &self.db;
        match &self.v3 {
            None => Err(StepError::fatal(format!(
                "refusing to drop database `{db}`: which database nublado v3's hub uses in `{}` cannot be told (no `jupyterhub.hub.db.url` in its values file nor in the chart defaults of the merged repository)",
                self.env
            ))),
            Some(v3) if v3.name() == Some(db.as_str()) => Err(StepError::fatal(format!(
                "refusing to drop database `{db}`: nublado v3's hub uses it in `{}` (`jupyterhub.hub.db.url` = {}, from {}): dropping it would take v3's hub down. Give v3 its own database first (`enable-v3` sets postgresql://nublado3@postgres.postgres/nublado3); if v3's `{db}` database is on another server than {}, drop v2's by hand",
                self.env,
                v3.url,
                v3.source.describe(),
                self.pg.url()
            ))),
            Some(_) => Ok(()),
        }
    }

    fn psql(&self, sql: &str) -> String {
        format!(
            "PGPASSWORD={} psql -w '{}' -c \"{sql}\"",
            self.password_var,
            self.pg.url()
        )
    }

    /// Refuses while clients are connected to the database.
    fn refuse_if_connected(&self) -> Result<(), StepError> {
        let conns = with_retries(&self.timing, || self.pg.connections(&self.db))?;
        if conns.is_empty() {
            return Ok(());
        }
        let listed: Vec<String> = conns.iter().map(|c| c.to_string()).collect();
        Err(StepError::fatal(format!(
            "refusing to drop database `{}`: {} client{} connected ({}); stop them (the v2 hub) and run again with --resume",
            self.db,
            conns.len(),
            if conns.len() == 1 { " is" } else { "s are" },
            listed.join("; ")
        )))
    }
}

impl StepRunner for DatabaseCleanup {
    fn id(&self) -> &str {
        &self.id
    }

    fn title(&self) -> String {
        self.title.clone()
    }

    fn destructive(&self) -> bool {
        true
    }

    fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(3600)
    }

    fn preview(&self, op: &mut dyn Operator) -> Result<Preview, StepError> {
        let db = with_retries(&self.timing, || self.pg.database_exists(&self.db))?;
        if db {
            self.refuse_if_in_use()?;
            if let Some(v3) = &self.v3 {
                op.say(&format!(
                    "nublado v3's hub uses {} ({}), not `{}`",
                    v3.url,
                    v3.source.describe(),
                    self.db
                ));
            }
        }
        let role = with_retries(&self.timing, || self.pg.role_exists(&self.role))?;
        if !db && !role {
            return Ok(Preview {
                action: Action::Skip {
                    reason: format!(
                        "database `{}` and role `{}` are already gone from {}",
                        self.db,
                        self.role,
                        self.pg.url()
                    ),
                },
                commands: Vec::new(),
            });
        }
        let mut touches = Vec::new();
        let mut commands = Vec::new();
        if db {
            if let Err(e) = self.refuse_if_connected() {
                op.say(&format!("the run would stop here: {}", e.message));
            }
            commands.push(self.psql(&format!(
                "SELECT pid, usename, application_name, client_addr FROM pg_stat_activity WHERE datname = {}",
                literal(&self.db)
            )));
            let dump = self
                .backup_dir
                .join(format!("postgres-{}-<time>.dump", self.db));
            commands.push(format!(
                "PGPASSWORD={} pg_dump --format=custom --no-password --dbname '{}' > {} && chmod 600 that file",
                self.password_var,
                with_database(self.pg.url(), &self.db),
                dump.display()
            ));
            commands.push(format!("pg_restore --list {}", dump.display()));
            commands.push(self.psql(&format!("DROP DATABASE {}", ident(&self.db))));
            touches.push(format!("database/{}", self.db));
        }
        if role {
            commands.push(self.psql(&format!("DROP ROLE {}", ident(&self.role))));
            touches.push(format!("role/{}", self.role));
        }
        Ok(Preview {
            action: Action::Run { touches },
            commands,
        })
    }

    fn run(&self, _preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let mut touched = Vec::new();
        let mut done = Vec::new();
        if with_retries(&self.timing, || self.pg.database_exists(&self.db))? {
            self.refuse_if_in_use()?;
            self.refuse_if_connected()?;
            let (file, handle) =
                create_private(&self.backup_dir, &format!("postgres-{}", self.db), "dump")
                    .map_err(|e| {
                        StepError::fatal(format!(
                            "cannot create the dump file in {}: {e} (nothing was dropped)",
                            self.backup_dir.display()
                        ))
                    })?;
            drop(handle);
            op.say(&format!(
                "dumping database `{}` to {} (0600)",
                self.db,
                file.display()
            ));
            let bytes = self
                .pg
                .dump(&self.db, &file)
                .map_err(|e| StepError::fatal(format!("{} (nothing was dropped)", e.message)))?;
            let entries = self
                .pg
                .check_dump(&file)
                .map_err(|e| StepError::fatal(format!("{} (nothing was dropped)", e.message)))?;
            op.say(&format!(
                "the dump reads back: {entries} entries (`pg_restore --list`)"
            ));
            // A client may have connected during the dump: DROP DATABASE then fails, unforced.
            self.pg.drop_database(&self.db).map_err(|e| {
                StepError::fatal(format!("{}; the dump is in {}", e.message, file.display()))
            })?;
            touched.push(format!("database/{}", self.db));
            done.push(format!(
                "dumped `{}` to {} ({bytes} bytes, {entries} entries read back) and dropped it",
                self.db,
                file.display()
            ));
        }
        if with_retries(&self.timing, || self.pg.role_exists(&self.role))? {
            self.pg.drop_role(&self.role)?;
            touched.push(format!("role/{}", self.role));
            done.push(format!("dropped role `{}`", self.role));
        }
        let summary = if done.is_empty() {
            format!(
                "database `{}` and role `{}` were already gone",
                self.db, self.role
            )
        } else {
            done.join("; ")
        };
        Ok(Outcome { touched, summary })
    }
}
