//! Tests of the image settings (`translate::images`): cachemachine's `autostart` and what
//! v3 lacks. Does not test the lab volumes (`mounts`).

use super::*;

const GAR: &str = "serviceAccount:
  annotations: {
    iam.gke.io/gcp-service-account: cachemachine-wi@p.iam.gserviceaccount.com
  }

autostart:
  jupyter: |
    {
      \"name\": \"jupyter\",
      \"labels\": {},
      \"repomen\": [
        {
          \"type\": \"RubinRepoGar\",
          \"registry_url\": \"us-central1-docker.pkg.dev\",
          \"gar_repository\": \"sciplat\",
          \"gar_image\": \"sciplat-lab\",
          \"project_id\": \"rubin-shared\",
          \"location\": \"us-central1\",
          \"recommended_tag\": \"recommended\",
          \"num_releases\": 1,
          \"num_weeklies\": 2,
          \"num_dailies\": 3
        },
        {
          \"type\": \"SimpleRepoMan\",
          \"images\": [
            {\"image_url\": \"us-central1-docker.pkg.dev/rubin-shared/sciplat/sciplat-lab:w_2023_07\", \"name\": \"Weekly\"},
            {\"image_url\": \"docker.io/other/image:1\", \"name\": \"Other\"}
          ]
        }
      ]
    }
";

fn images_of(cachemachine: &str) -> Translation {
    let d = doc(cachemachine);
    let files = V2Files {
        cachemachine: Some(File {
            rel: "applications/cachemachine/values-x.yaml",
            doc: &d,
        }),
        ..V2Files::default()
    };
    translate(&files, Syntax::Flat, &Answers::default())
}

#[test]
fn cachemachine_becomes_camel_case_images() {
    let t = images_of(GAR);
    let y = yaml(&t);
    assert_eq!(
        y,
        "controller:
  config:
    images:
      source:
        type: \"google\"
        location: \"us-central1\"
        projectId: \"rubin-shared\"
        repository: \"sciplat\"
        image: \"sciplat-lab\"
      recommendedTag: \"recommended\"
      numReleases: 1
      numWeeklies: 2
      numDailies: 3
      pin:
        - \"w_2023_07\"
"
    );
    assert!(
        !y.contains("num_") && !y.contains("_tag"),
        "no snake_case keys"
    );
    let items: Vec<String> = t
        .untranslated
        .iter()
        .map(|u| format!("{}: {}", u.line.unwrap_or(0), u.what))
        .collect();
    assert_eq!(
        items,
        [
            "28: the pinned image `docker.io/other/image:1` is not a tag of the image source",
            "3: the image source is Google Artifact Registry (cachemachine used `cachemachine-wi@p.iam.gserviceaccount.com`)",
        ]
    );
}

#[test]
fn docker_repoman_settings_and_what_v3_lacks() {
    let t = images_of(
        "autostart:
  jupyter: |
    {
      \"name\": \"jupyter\",
      \"labels\": {\"jupyterlab\": \"ok\"},
      \"repomen\": [
        {
          \"type\": \"RubinRepoMan\",
          \"registry_url\": \"ts-dockerhub.lsst.org\",
          \"repo\": \"sal-sciplat-lab\",
          \"recommended_tag\": \"recommended_c0031\",
          \"num_releases\": 0,
          \"cycle\": 31,
          \"alias_tags\": [\"latest\", \"latest_daily\"],
          \"verify\": true
        }
      ]
    }
",
    );
    let y = yaml(&t);
    assert!(y.contains("      source:\n        type: \"docker\"\n        registry: \"ts-dockerhub.lsst.org\"\n        repository: \"sal-sciplat-lab\"\n      recommendedTag: \"recommended_c0031\"\n      numReleases: 0\n      cycle: 31\n      aliasTags:\n        - \"latest\"\n        - \"latest_daily\"\n"), "{y}");
    let items: Vec<String> = t
        .untranslated
        .iter()
        .map(|u| format!("{}: {}", u.line.unwrap_or(0), u.what))
        .collect();
    assert_eq!(
        items,
        [
            "5: cachemachine prepulled only on nodes with the given `labels`",
            "15: the repoman setting `verify` has no nublado v3 equivalent",
        ]
    );
}
