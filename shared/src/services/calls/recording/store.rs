//! Recordings in blobs: segment and WAV keys, joining segments into the
//! final WAV, the two read routes, and the retention sweep.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::RATE;
use crate::App;
use crate::domain::identity::RecordingChannels;
use crate::domain::{Mode, Tenant, rfc3339};
use crate::error::{Error, Result};
use crate::services::caller::Caller;
use crate::services::table_keys::{RECORDINGS_EXPIRE_PK, recording_expire_sk};
use crate::services::views::RecordingLinkView;
use crate::speech::audio;
use crate::store::{Blob, Condition, Item, Query, SortKey, StoreError};

/// Content type of a segment: raw little-endian PCM16 at 16 kHz (mono, or
/// two interleaved tracks for a `.dual.pcm` segment, which its key says).
pub const SEGMENT_TYPE: &str = "audio/L16;rate=16000";

/// How long a `GET /calls/{id}/recording` link works.
pub const LINK_TTL: Duration = Duration::from_secs(3600);

/// How long after a call ended without a recording its leftover segments
/// count as a crash's (and the first read joins them): a pipeline still
/// finishing its recorder must not race a reader joining half of it.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(30);

/// Most expired recordings one scheduler tick deletes (the next takes the rest).
pub const MAX_EXPIRED_PER_TICK: usize = 100;

const SEGMENT_PREFIX: &str = "seg-";
const SEGMENT_SUFFIX: &str = ".pcm";
/// Before [`SEGMENT_SUFFIX`]: the segment holds two interleaved tracks.
const DUAL_MARK: &str = ".dual";

/// `<org>/<live|test>/recordings/<call>/`: every blob of a call's recording.
pub fn dir(tenant: &Tenant, call_id: &str) -> String {
    format!("{}recordings/{call_id}/", tenant.blob_prefix())
}

/// The key of the segment whose first sample is at call time `start` (in
/// samples of one track; zero-padded, so key order is time order), in the
/// layout `channels`.
pub fn segment_key(
    tenant: &Tenant,
    call_id: &str,
    start: u64,
    channels: RecordingChannels,
) -> String {
    let mark = match channels {
        RecordingChannels::Mixed => "",
        RecordingChannels::Dual => DUAL_MARK,
    };
    format!(
        "{}{SEGMENT_PREFIX}{start:012}{mark}{SEGMENT_SUFFIX}",
        dir(tenant, call_id)
    )
}

/// The key of a call's final WAV.
pub fn wav_key(tenant: &Tenant, call_id: &str) -> String {
    format!("{}call.wav", dir(tenant, call_id))
}

/// Whether the call's final WAV is stored.
pub(super) async fn has_wav(app: &App, tenant: &Tenant, call_id: &str) -> Result<bool> {
    let key = wav_key(tenant, call_id);
    let blobs = app.blobs.list(&dir(tenant, call_id)).await?;
    Ok(blobs.iter().any(|b| b.key == key))
}

/// Samples as little-endian bytes (a segment's content).
pub(super) fn pcm_bytes(samples: &[i16]) -> bytes::Bytes {
    crate::speech::audio::pcm16_le(samples).into()
}

/// The first sample and the layout of the segment at `key`, or None for
/// another blob.
fn segment_start(key: &str) -> Option<(u64, RecordingChannels)> {
    let name = key.rsplit('/').next()?;
    let stem = name
        .strip_prefix(SEGMENT_PREFIX)?
        .strip_suffix(SEGMENT_SUFFIX)?;
    let (start, channels) = match stem.strip_suffix(DUAL_MARK) {
        Some(start) => (start, RecordingChannels::Dual),
        None => (stem, RecordingChannels::Mixed),
    };
    Some((start.parse().ok()?, channels))
}

/// Joins the call's segments, in call-time order, into its WAV (a gap left
/// by a lost segment becomes silence, so later audio keeps its time; two
/// tracks when the segments have two, a segment of the other layout
/// converted), sets
/// the call's `recording_url`, schedules the recording's deletion in
/// `retention_days` and deletes the segments. Returns false when there was
/// no segment (nothing recorded).
///
/// The WAV is built in memory (the blob port has no streaming upload): a
/// transient buffer of the file's size, 1.9 MB per minute of call.
pub(crate) async fn assemble(
    app: &App,
    tenant: &Tenant,
    call_id: &str,
    retention_days: u32,
) -> Result<bool> {
    let mut segments: Vec<(u64, RecordingChannels, String)> = app
        .blobs
        .list(&dir(tenant, call_id))
        .await?
        .into_iter()
        .filter_map(|b| segment_start(&b.key).map(|(start, channels)| (start, channels, b.key)))
        .collect();
    if segments.is_empty() {
        return Ok(false);
    }
    segments.sort_by_key(|(start, _, _)| *start);
    let layout = if segments
        .iter()
        .any(|(_, c, _)| *c == RecordingChannels::Dual)
    {
        RecordingChannels::Dual
    } else {
        RecordingChannels::Mixed
    };
    let tracks = u64::from(layout.count());
    let wav_error = |e: hound::Error| Error::Internal(format!("writing the recording: {e}"));
    let spec = hound::WavSpec {
        channels: layout.count(),
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = std::io::Cursor::new(Vec::new());
    let mut wav = hound::WavWriter::new(&mut out, spec).map_err(wav_error)?;
    // Call time, in samples of one track, written so far.
    let mut at = 0u64;
    for (start, channels, key) in &segments {
        // A segment that vanished was deleted by a concurrent join: its WAV
        // is (being) written; this one gives way.
        let Some(blob) = app.blobs.get(key).await? else {
            return Err(Error::NotFound("recording"));
        };
        let pcm = audio::pcm16_from_le(&blob.bytes);
        let pcm = match (channels, layout) {
            (RecordingChannels::Dual, RecordingChannels::Mixed) => audio::downmix(&pcm),
            (RecordingChannels::Mixed, RecordingChannels::Dual) => audio::interleave(&pcm, &pcm),
            _ => pcm,
        };
        let length = pcm.len() as u64 / tracks;
        let gap = start.saturating_sub(at);
        let skip = at.saturating_sub(*start).min(length);
        let data = &pcm[(skip * tracks) as usize..(length * tracks) as usize];
        // hound's 16-bit writer: one bounds check per segment, not per sample.
        let count = u32::try_from(gap * tracks + data.len() as u64)
            .map_err(|_| Error::Internal("a recording segment is too long".into()))?;
        let mut samples = wav.get_i16_writer(count);
        for _ in 0..gap * tracks {
            samples.write_sample(0i16);
        }
        for &sample in data {
            samples.write_sample(sample);
        }
        samples.flush().map_err(wav_error)?;
        at = at.max(start + length);
    }
    wav.finalize().map_err(wav_error)?;
    app.blobs
        .put(
            &wav_key(tenant, call_id),
            out.into_inner().into(),
            "audio/wav",
        )
        .await?;
    schedule_expiry(app, tenant, call_id, retention_days).await?;
    set_recording_url(app, tenant, call_id, Some(stream_url(app, tenant, call_id))).await?;
    for (_, _, key) in segments {
        app.blobs.delete(&key).await?;
    }
    Ok(true)
}

/// What the call view shows as `recording_url`: the authenticated stream
/// route (SPEC §10; a proxy URL, as the reference API's), never a signed link
/// that would expire inside a stored call.
pub(super) fn stream_url(app: &App, tenant: &Tenant, call_id: &str) -> String {
    let mode = match tenant.mode {
        Mode::Live => "",
        Mode::Test => "?mode=test",
    };
    format!(
        "{}/api/v1/calls/{call_id}/recording/stream{mode}",
        app.config.public_url
    )
}

/// Sets (or clears) the call's `recording_url`; a call that is gone is left so.
pub(super) async fn set_recording_url(
    app: &App,
    tenant: &Tenant,
    call_id: &str,
    url: Option<String>,
) -> Result<()> {
    for _ in 0..8 {
        let (mut call, version) = match super::super::load(app, tenant, call_id).await {
            Err(Error::NotFound(_)) => return Ok(()),
            other => other?,
        };
        if call.recording_url == url {
            return Ok(());
        }
        call.recording_url = url.clone();
        call.updated_at = app.now_rfc3339();
        let item = super::super::item(tenant, &call);
        match app.table.put(item, Condition::VersionEquals(version)).await {
            Ok(_) => return Ok(()),
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict(
        "the call kept changing while its recording was being attached; retry".into(),
    ))
}

/// An expiry marker's content.
#[derive(Serialize, Deserialize)]
struct Expiry {
    org_id: String,
    mode: Mode,
    call_id: String,
}

async fn schedule_expiry(app: &App, tenant: &Tenant, call_id: &str, days: u32) -> Result<()> {
    let expires_at = rfc3339(app.now() + chrono::Duration::days(i64::from(days)));
    let data = serde_json::to_value(Expiry {
        org_id: tenant.org_id.clone(),
        mode: tenant.mode,
        call_id: call_id.to_owned(),
    })
    .map_err(|e| Error::Internal(e.to_string()))?;
    let sk = recording_expire_sk(&expires_at, tenant, call_id);
    app.table
        .put(Item::new(RECORDINGS_EXPIRE_PK, sk, data), Condition::None)
        .await?;
    Ok(())
}

/// Deletes every blob of a call's recording and clears its `recording_url`.
pub(crate) async fn delete(app: &App, tenant: &Tenant, call_id: &str) -> Result<()> {
    set_recording_url(app, tenant, call_id, None).await?;
    for blob in app.blobs.list(&dir(tenant, call_id)).await? {
        app.blobs.delete(&blob.key).await?;
    }
    Ok(())
}

/// Deletes the recordings whose retention ended (the scheduler tick runs
/// it); returns how many went.
pub async fn sweep_expired(app: &App) -> Result<usize> {
    let now = app.now_rfc3339();
    // Markers sort by `expires_at`; `~` sorts after every id character.
    let query = Query::partition(RECORDINGS_EXPIRE_PK)
        .sort_key(SortKey::To(format!("{now}#~")))
        .limit(MAX_EXPIRED_PER_TICK);
    let mut deleted = 0;
    for item in app.table.query(query).await?.items {
        match serde_json::from_value::<Expiry>(item.data.clone()) {
            Ok(m) => {
                let tenant = Tenant {
                    org_id: m.org_id,
                    mode: m.mode,
                };
                delete(app, &tenant, &m.call_id).await?;
                deleted += 1;
            }
            Err(_) => tracing::error!(sk = %item.sk, "unreadable recording expiry marker dropped"),
        }
        app.table
            .delete(&item.pk, &item.sk, Condition::None)
            .await?;
    }
    Ok(deleted)
}

/// The key of the WAV of the caller's call `id`: 404 (`call`) for no such
/// call in the tenant, 404 (`recording`) until it has ended with one. Joins
/// the segments a crashed recorder left, once the call has been over for
/// [`ORPHAN_GRACE`]; speaks a sim call's recording the first time
/// ([`super::sim`]).
pub async fn recorded_key(app: &App, caller: &Caller, id: &str) -> Result<String> {
    let tenant = &caller.tenant;
    let (call, _) = super::super::load(app, tenant, id).await?;
    if !call.status.is_final() {
        return Err(Error::NotFound("recording"));
    }
    if call.simulated && call.recording_url.is_some() && !has_wav(app, tenant, id).await? {
        match super::sim::render(app, tenant, &call).await {
            // Another process joined the same render first: its WAV stands.
            Err(Error::NotFound("recording")) if has_wav(app, tenant, id).await? => {}
            made => made?,
        }
        return Ok(wav_key(tenant, id));
    }
    if call.recording_url.is_none() {
        let ended_long_ago = call
            .ended_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t + seconds(ORPHAN_GRACE) <= app.now());
        if !ended_long_ago {
            return Err(Error::NotFound("recording"));
        }
        let (org, _) = crate::services::identity::get_org(app, &tenant.org_id).await?;
        let days = org.settings.recording_retention_days;
        if !assemble(app, tenant, id, days).await? {
            return Err(Error::NotFound("recording"));
        }
    }
    Ok(wav_key(tenant, id))
}

fn seconds(d: Duration) -> chrono::Duration {
    chrono::Duration::seconds(d.as_secs() as i64)
}

/// `GET /calls/{id}/recording`: a signed link to the WAV, valid [`LINK_TTL`].
pub async fn link(app: &App, caller: &Caller, id: &str) -> Result<RecordingLinkView> {
    let key = recorded_key(app, caller, id).await?;
    let expires_at = rfc3339(app.now() + seconds(LINK_TTL));
    let url = app.blobs.signed_url(&key, LINK_TTL).await?;
    Ok(RecordingLinkView { url, expires_at })
}

/// `GET /calls/{id}/recording/stream`: the WAV itself.
pub async fn stream(app: &App, caller: &Caller, id: &str) -> Result<Blob> {
    let key = recorded_key(app, caller, id).await?;
    app.blobs
        .get(&key)
        .await?
        .ok_or(Error::NotFound("recording"))
}
