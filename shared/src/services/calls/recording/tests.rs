//! The recorder on the embedded store (a real SQLite file and blob folder).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

use super::store::{self, SEGMENT_TYPE, dir, wav_key};
use super::*;
use crate::app::Clock;
use crate::domain::call::{Call, CallStatus, Direction};
use crate::domain::identity::Organization;
use crate::domain::identity::RecordingChannels;
use crate::domain::{Mode, Role, Tenant};
use crate::engine::call::{Role as Said, TranscriptEntry};
use crate::services::caller::{Caller, Principal};
use crate::services::table_keys::{ORG_SK, RECORDINGS_EXPIRE_PK, org_pk};
use crate::speech::vad::level_db;
use crate::store::{Condition, Item, Query};
use crate::{App, Config};

/// A clock tests move forward.
struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0.load(Ordering::SeqCst)).unwrap_or_default()
    }
}

struct Fixture {
    app: Arc<App>,
    clock: Arc<TestClock>,
    tenant: Tenant,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// An embedded app with one org (retention `days`) and one ended call.
    async fn new(days: u32) -> (Fixture, String) {
        let dir = tempfile::tempdir().unwrap();
        let mut app = App::build(Config::embedded(dir.path())).await.unwrap();
        let clock = Arc::new(TestClock(AtomicI64::new(Utc::now().timestamp_millis())));
        app.clock = clock.clone() as Arc<dyn Clock>;
        let app = Arc::new(app);
        let created =
            crate::services::identity::create_installation_org(&app, "Org", "a@example.com")
                .await
                .unwrap();
        let org_id = created["org_id"].as_str().unwrap().to_owned();
        let item = app
            .table
            .get(&org_pk(&org_id), ORG_SK)
            .await
            .unwrap()
            .unwrap();
        let mut org: Organization = item.parse().unwrap();
        org.settings.recording_retention_days = days;
        let put = Item::new(org_pk(&org_id), ORG_SK, serde_json::to_value(&org).unwrap());
        app.table
            .put(put, Condition::VersionEquals(item.version))
            .await
            .unwrap();
        let tenant = Tenant {
            org_id,
            mode: Mode::Live,
        };
        let f = Fixture {
            app,
            clock,
            tenant,
            _dir: dir,
        };
        let call_id = f.ended_call().await;
        (f, call_id)
    }

    async fn ended_call(&self) -> String {
        let now = self.app.now_rfc3339();
        let mut call = Call::placed(
            self.app.new_id(),
            Direction::Outbound,
            "agent".into(),
            "+15555550100".into(),
            "+15555550123".into(),
            true,
            now.clone(),
        );
        call.status = CallStatus::Completed;
        call.ended_at = Some(now);
        let item = crate::services::calls::item(&self.tenant, &call);
        self.app
            .table
            .put(item, Condition::MustNotExist)
            .await
            .unwrap();
        call.id
    }

    fn advance(&self, ms: i64) {
        self.clock.0.fetch_add(ms, Ordering::SeqCst);
    }

    fn caller(&self) -> Caller {
        Caller {
            principal: Principal::ApiKey {
                key_id: "k".into(),
                key_hash: "h".into(),
            },
            role: Role::Admin,
            tenant: self.tenant.clone(),
        }
    }

    async fn recorder(&self, call_id: &str) -> Recorder {
        Recorder::start(self.app.clone(), self.tenant.clone(), call_id)
            .await
            .expect("the workspace records calls")
    }

    async fn blob_keys(&self, call_id: &str) -> Vec<String> {
        let list = self
            .app
            .blobs
            .list(&dir(&self.tenant, call_id))
            .await
            .unwrap();
        list.into_iter().map(|b| b.key).collect()
    }

    async fn wav(&self, call_id: &str) -> Vec<i16> {
        let blob = self
            .app
            .blobs
            .get(&wav_key(&self.tenant, call_id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(blob.content_type, "audio/wav");
        let pcm = audio::read_wav(&blob.bytes).unwrap();
        assert_eq!(pcm.rate, RATE);
        pcm.samples
    }

    async fn recording_url(&self, call_id: &str) -> Option<String> {
        let (call, _) = crate::services::calls::load(&self.app, &self.tenant, call_id)
            .await
            .unwrap();
        call.recording_url
    }
}

impl Fixture {
    /// Changes the org's workspace settings.
    async fn settings(&self, change: impl FnOnce(&mut crate::domain::identity::WorkspaceSettings)) {
        let pk = org_pk(&self.tenant.org_id);
        let item = self.app.table.get(&pk, ORG_SK).await.unwrap().unwrap();
        let mut org: Organization = item.parse().unwrap();
        change(&mut org.settings);
        let put = Item::new(pk, ORG_SK, serde_json::to_value(&org).unwrap());
        self.app
            .table
            .put(put, Condition::VersionEquals(item.version))
            .await
            .unwrap();
    }

    /// Gives the ended (simulated) call `call_id` this transcript.
    async fn transcript(&self, call_id: &str, lines: &[(Said, &str, u64)]) {
        let (mut call, version) = crate::services::calls::load(&self.app, &self.tenant, call_id)
            .await
            .unwrap();
        let entries = lines
            .iter()
            .enumerate()
            .map(|(i, (role, text, at_ms))| TranscriptEntry {
                seq: i as u32 + 1,
                role: *role,
                text: (*text).to_owned(),
                at_ms: *at_ms,
                interrupted: false,
            });
        call.transcript = Some(entries.collect());
        let item = crate::services::calls::item(&self.tenant, &call);
        self.app
            .table
            .put(item, Condition::VersionEquals(version))
            .await
            .unwrap();
    }

    /// How many recordings wait for their retention to end.
    async fn expiry_markers(&self) -> usize {
        let query = Query::partition(RECORDINGS_EXPIRE_PK);
        self.app.table.query(query).await.unwrap().items.len()
    }

    /// The two tracks of the call's stereo WAV (caller, agent).
    async fn stereo_wav(&self, call_id: &str) -> (Vec<i16>, Vec<i16>) {
        let key = wav_key(&self.tenant, call_id);
        let blob = self.app.blobs.get(&key).await.unwrap().unwrap();
        let reader = hound::WavReader::new(std::io::Cursor::new(blob.bytes)).unwrap();
        assert_eq!(
            (reader.spec().channels, reader.spec().sample_rate),
            (2, RATE)
        );
        let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
        let left = samples.iter().step_by(2).copied().collect();
        let right = samples.iter().skip(1).step_by(2).copied().collect();
        (left, right)
    }
}

fn constant(value: i16, samples: usize) -> Vec<i16> {
    vec![value; samples]
}

/// Agent audio lands at `at_ms * 16`; a barge-in cut drops what was not
/// heard; a piece placed before the previous one's end follows it; agent
/// audio past the caller's last sample lengthens the recording; the final WAV
/// is the mix and the call points at it.
#[tokio::test]
async fn agent_audio_is_aligned_cut_and_mixed_into_the_final_wav() {
    let (f, call_id) = Fixture::new(30).await;
    let mut rec = f.recorder(&call_id).await;
    // 2 s of caller audio in 20 ms frames, the agent speaking over it.
    for i in 0..100 {
        rec.caller(&constant(100, 320));
        match i {
            10 => rec.agent(500, &constant(1000, 8_000)), // 500..1000 ms
            15 => rec.cut_agent(700),                     // heard until 700 ms
            20 => {
                rec.agent(1_500, &constant(2000, 1_600)); // 1500..1600 ms
                rec.agent(1_500, &constant(3000, 160)); // after the previous: 1600..1610 ms
            }
            _ => {}
        }
        rec.flush().await;
    }
    rec.agent(1_900, &constant(4000, 3_200)); // 1900..2100 ms, past the caller's end
    rec.finish().await.unwrap();

    let wav = f.wav(&call_id).await;
    assert_eq!(wav.len(), 33_600, "2.1 s at 16 kHz");
    let expect = |i: usize| match i {
        8_000..11_200 => 1100,
        24_000..25_600 => 2100,
        25_600..25_760 => 3100,
        30_400..32_000 => 4100,
        32_000.. => 4000,
        _ => 100,
    };
    for (i, &s) in wav.iter().enumerate() {
        assert_eq!(s, expect(i), "sample {i}");
    }
    let url = f.recording_url(&call_id).await.unwrap();
    assert!(
        url.ends_with(&format!("/api/v1/calls/{call_id}/recording/stream")),
        "{url}"
    );
    assert_eq!(
        f.blob_keys(&call_id).await,
        vec![wav_key(&f.tenant, &call_id)],
        "segments removed"
    );
}

/// Agent audio that falls wholly in what segments already hold (a barge-in
/// cut before the written point, then audio placed early) is dropped: never
/// a panic in the call's task.
#[tokio::test]
async fn agent_audio_before_what_was_written_is_dropped() {
    let (f, call_id) = Fixture::new(30).await;
    let mut rec = f.recorder(&call_id).await;
    for _ in 0..300 {
        rec.caller(&constant(100, 320));
        rec.flush().await;
    }
    // 6 s of caller audio, most of it written out by now.
    rec.cut_agent(0);
    rec.agent(100, &constant(1000, 320));
    rec.agent(200, &constant(1000, 16_000));
    rec.finish().await.unwrap();
    let wav = f.wav(&call_id).await;
    assert_eq!(wav.len(), 96_000);
}

/// While the call runs, final audio reaches the store in segments, so at any
/// flush at most a segment plus the hold-back plus one flush interval is
/// only in memory; a recorder that never finishes (a crash) leaves segments
/// that the first read joins once the call has been over for the grace time.
#[tokio::test]
async fn segments_are_written_as_the_call_runs_and_a_crash_loses_little() {
    let (f, call_id) = Fixture::new(30).await;
    let mut rec = f.recorder(&call_id).await;
    let second = RATE as usize;
    for s in 1..=10 {
        rec.caller(&constant(s as i16, second));
        rec.agent((s as u64 - 1) * 1000 + 100, &constant(1, 1_600));
        rec.flush().await;
        rec.settle().await.unwrap(); // the background write, done
        let stored: u64 = f
            .app
            .blobs
            .list(&dir(&f.tenant, &call_id))
            .await
            .unwrap()
            .iter()
            .map(|b| b.size / 2)
            .sum();
        let fed = (s * second) as u64;
        assert!(
            fed - stored <= (SEGMENT_SAMPLES + HOLD_BACK_SAMPLES + second) as u64,
            "after {s} s only {stored} samples stored"
        );
        if s >= 4 {
            assert!(stored > 0, "a segment is written by {s} s");
        }
    }
    let segment = f.blob_keys(&call_id).await[0].clone();
    let blob = f.app.blobs.get(&segment).await.unwrap().unwrap();
    assert_eq!(blob.content_type, SEGMENT_TYPE);
    drop(rec); // the runner died: no finish

    // Right after the end the pipeline may still be finishing: no join yet.
    let caller = f.caller();
    let early = store::recorded_key(&f.app, &caller, &call_id).await;
    assert!(
        matches!(early, Err(Error::NotFound("recording"))),
        "{early:?}"
    );
    f.advance(store::ORPHAN_GRACE.as_millis() as i64);
    let key = store::recorded_key(&f.app, &caller, &call_id)
        .await
        .unwrap();
    assert_eq!(key, wav_key(&f.tenant, &call_id));
    let wav = f.wav(&call_id).await;
    assert!(
        wav.len() >= 9 * second - SEGMENT_SAMPLES,
        "{} samples kept",
        wav.len()
    );
    assert_eq!(wav[0], 1);
    assert_eq!(wav[100 * 16], 2, "agent audio mixed in the segments");
    assert_eq!(wav[second + 50], 2, "second 2 is caller 2");
    assert!(f.recording_url(&call_id).await.is_some());
}

/// Retention 0 records nothing; otherwise the recording is deleted (blobs
/// and `recording_url`) by the first sweep after its retention ends, not
/// before.
#[tokio::test]
async fn retention_zero_records_nothing_and_the_sweep_deletes_expired_recordings() {
    let (off, call_id) = Fixture::new(0).await;
    assert!(
        Recorder::start(off.app.clone(), off.tenant.clone(), &call_id)
            .await
            .is_none()
    );

    let (f, call_id) = Fixture::new(2).await;
    let mut rec = f.recorder(&call_id).await;
    rec.caller(&constant(7, 1_600));
    rec.finish().await.unwrap();
    assert_eq!(f.wav(&call_id).await, constant(7, 1_600));
    assert_eq!(f.expiry_markers().await, 1);

    f.advance(2 * 86_400_000 - 60_000);
    assert_eq!(sweep_expired(&f.app).await.unwrap(), 0, "a minute early");
    assert!(f.recording_url(&call_id).await.is_some());
    f.advance(120_000);
    assert_eq!(sweep_expired(&f.app).await.unwrap(), 1);
    assert!(f.blob_keys(&call_id).await.is_empty());
    assert_eq!(f.recording_url(&call_id).await, None);
    assert_eq!(f.expiry_markers().await, 0);
    let gone = store::recorded_key(&f.app, &f.caller(), &call_id).await;
    assert!(
        matches!(gone, Err(Error::NotFound("recording"))),
        "{gone:?}"
    );
}

/// `dual`: the caller's audio on the left track, the agent's on the right,
/// unmixed, through segments (`….dual.pcm`) as the call runs.
#[tokio::test]
async fn dual_recordings_keep_each_side_on_its_own_track() {
    let (f, call_id) = Fixture::new(30).await;
    f.settings(|s| s.recording_channels = RecordingChannels::Dual)
        .await;
    let mut rec = f.recorder(&call_id).await;
    for i in 0..250 {
        rec.caller(&constant(100, 320));
        if i == 10 {
            rec.agent(500, &constant(1000, 8_000)); // 500..1000 ms
        }
        rec.flush().await;
    }
    rec.settle().await.unwrap();
    let keys = f.blob_keys(&call_id).await;
    assert!(
        keys.iter().any(|k| k.ends_with(".dual.pcm")),
        "segments of two tracks: {keys:?}"
    );
    rec.finish().await.unwrap();
    let (caller, agent) = f.stereo_wav(&call_id).await;
    assert_eq!((caller.len(), agent.len()), (80_000, 80_000), "5 s");
    assert!(
        caller.iter().all(|&s| s == 100),
        "the caller alone on the left"
    );
    for (i, &s) in agent.iter().enumerate() {
        let expected = if (8_000..16_000).contains(&i) {
            1000
        } else {
            0
        };
        assert_eq!(s, expected, "agent sample {i}");
    }
}

/// A sim call has no audio of its own: when it ends it is offered a
/// recording, which is spoken from its transcript (each line from its
/// `at_ms`, the callee on the caller's side, system notes silent) the first
/// time it is asked for, in the workspace's layout; a workspace that keeps
/// no recordings gets none made. Needs espeak-ng (CI installs it).
#[tokio::test]
async fn a_sim_calls_recording_is_spoken_from_its_transcript_when_first_asked_for() {
    let lines = [
        (Said::Agent, "Hello, this is the dental clinic.", 0),
        (Said::User, "Hi, I would like to book a visit.", 3_000),
        (Said::System, "A note nobody says aloud.", 3_500),
        (Said::Agent, "Sure, which day suits you?", 6_000),
    ];
    let second = RATE as usize;
    let loud = |track: &[i16], from_ms: usize, to_ms: usize| {
        level_db(&track[from_ms * second / 1000..to_ms * second / 1000]) > -35.0
    };
    let (f, call_id) = Fixture::new(30).await;
    f.transcript(&call_id, &lines).await;
    super::sim::offer(&f.app, &f.tenant, &call_id).await;
    assert!(f.recording_url(&call_id).await.is_some(), "offered");
    assert!(
        f.blob_keys(&call_id).await.is_empty(),
        "nothing made until asked for"
    );
    let key = store::recorded_key(&f.app, &f.caller(), &call_id)
        .await
        .unwrap();
    assert_eq!(key, wav_key(&f.tenant, &call_id));
    let wav = f.wav(&call_id).await;
    assert!(wav.len() > 7 * second, "{} samples", wav.len());
    assert!(loud(&wav, 100, 1_000), "the agent's greeting");
    assert_eq!(
        level_db(&wav[2_400 * 16..2_900 * 16]),
        f32::NEG_INFINITY,
        "a pause"
    );
    assert!(loud(&wav, 3_100, 4_000), "the callee");
    assert!(loud(&wav, 6_100, 6_800), "the agent again");
    assert_eq!(
        f.blob_keys(&call_id).await,
        vec![key.clone()],
        "one WAV, no segments"
    );
    assert_eq!(
        f.expiry_markers().await,
        1,
        "retention counts from when it was made"
    );
    // Asked again: the same file, not made twice.
    let again = f.app.blobs.get(&key).await.unwrap().unwrap();
    store::recorded_key(&f.app, &f.caller(), &call_id)
        .await
        .unwrap();
    assert_eq!(
        f.app.blobs.get(&key).await.unwrap().unwrap().bytes,
        again.bytes
    );

    // Two tracks: the callee alone on the left, the agent alone on the right.
    let dual = f.ended_call().await;
    f.transcript(&dual, &lines).await;
    f.settings(|s| s.recording_channels = RecordingChannels::Dual)
        .await;
    super::sim::offer(&f.app, &f.tenant, &dual).await;
    // A player asks for several ranges at once: one render serves them all.
    let caller = f.caller();
    let asked = [(); 3].map(|()| store::recorded_key(&f.app, &caller, &dual));
    for made in futures::future::join_all(asked).await {
        assert_eq!(made.unwrap(), wav_key(&f.tenant, &dual));
    }
    let (callee, agent) = f.stereo_wav(&dual).await;
    assert!(loud(&agent, 100, 1_000) && !loud(&callee, 100, 1_000));
    assert!(loud(&callee, 3_100, 4_000) && !loud(&agent, 3_100, 4_000));

    // Recordings turned off after the call: nothing is made.
    let off = f.ended_call().await;
    f.transcript(&off, &lines).await;
    super::sim::offer(&f.app, &f.tenant, &off).await;
    f.settings(|s| s.recording_retention_days = 0).await;
    let refused = store::recorded_key(&f.app, &f.caller(), &off).await;
    assert!(
        matches!(refused, Err(Error::NotFound("recording"))),
        "{refused:?}"
    );
    assert!(f.blob_keys(&off).await.is_empty());
}
