//! The model's readings (a Deployment's rollout as `kubectl rollout status` decides it) and
//! the client's requests.

use std::collections::BTreeMap;

use super::*;

fn deployment() -> Deployment {
    Deployment {
        namespace: "mobu".into(),
        name: "mobu".into(),
        generation: 3,
        replicas: 1,
        selector: BTreeMap::new(),
        restarted_at: None,
        observed_generation: 2,
        status_replicas: 1,
        updated_replicas: 1,
        ready_replicas: 1,
        available_replicas: 1,
        progressing: Some(("NewReplicaSetAvailable".into(), String::new())),
    }
}

#[test]
fn readiness_needs_the_new_generation_everywhere() {
    let mut d = deployment();
    assert!(!d.is_ready());
    d.observed_generation = 3;
    d.status_replicas = 2;
    assert_eq!(
        d.rollout(),
        Rollout::Waiting("1 old replicas are pending termination".into()),
        "an old replica remains"
    );
    d.status_replicas = 1;
    assert!(d.is_ready());
}

#[test]
fn readiness_counts_available_replicas_not_ready_ones() {
    // Ready, but not yet for `minReadySeconds`: kubectl keeps waiting.
    let mut d = deployment();
    d.observed_generation = 3;
    d.available_replicas = 0;
    assert_eq!(
        d.rollout(),
        Rollout::Waiting("0 of 1 updated replicas are available".into())
    );
    d.available_replicas = 1;
    d.ready_replicas = 0;
    assert!(d.is_ready(), "available is what counts, as for kubectl");
}

#[test]
fn a_progress_deadline_fails_once_the_generation_is_observed() {
    let mut d = deployment();
    let why = "ReplicaSet \"mobu-5d8f\" has timed out progressing.";
    d.progressing = Some((PROGRESS_DEADLINE_EXCEEDED.into(), why.into()));
    d.updated_replicas = 1;
    d.status_replicas = 2;
    d.available_replicas = 1;
    // The condition may be about the previous generation: not decided yet.
    assert!(matches!(d.rollout(), Rollout::Waiting(_)));
    d.observed_generation = 3;
    assert_eq!(d.rollout(), Rollout::Failed(why.into()));
    d.progressing = Some((PROGRESS_DEADLINE_EXCEEDED.into(), String::new()));
    assert_eq!(
        d.rollout(),
        Rollout::Failed("Deployment `mobu` exceeded its progress deadline".into())
    );
}
