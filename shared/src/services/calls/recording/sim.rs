//! Audio for simulated calls (SPEC §15). A sim call has no audio of its own;
//! when the offline voice (espeak-ng) is here, its recording is spoken from
//! its transcript: the agent in the agent's voice, the callee and any
//! supervisor in voices of their own, each line from the call time it was
//! said, in the workspace's `recording_channels` layout.
//!
//! The audio is made the first time someone asks for it ([`render`], from
//! [`super::store::recorded_key`]), not when the call ends: a test campaign
//! of thousands of calls costs nothing until one of them is played. The call
//! gets its `recording_url` when it ends ([`offer`]), so it shows as
//! recorded; retention counts from when the audio is made, and a workspace
//! that keeps no recordings gets none made.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::{RATE, SEGMENT_SAMPLES, store};
use crate::App;
use crate::domain::Tenant;
use crate::domain::call::Call;
use crate::engine::call::{CallOutcome, Role, TranscriptEntry};
use crate::error::{Error, Result};
use crate::speech::audio;
use crate::speech::offline::{self, espeak::Espeak};
use crate::speech::{Pcm, SpeakOptions, SpeechError};

/// Sim recordings one process makes at once: each is a run of short
/// espeak-ng processes (~20 ms a sentence), so two keep a core for calls.
const RENDERS_AT_ONCE: usize = 2;
/// How long a request waits for its turn to have audio made.
const WAIT_FOR_TURN: Duration = Duration::from_secs(30);
/// The longest sim recording made (10 min): lines past it are left out. A
/// render holds its two tracks (19 MB each at most) until they are written
/// out in segments, then the WAV being joined (up to 38 MB in two tracks).
const MAX_RENDERED_MS: u64 = 10 * 60 * 1000;
/// The espeak-ng variants the callee and a supervisor speak with, so the
/// three voices tell apart.
const CALLEE_VARIANT: &str = "f3";
const SUPERVISOR_VARIANT: &str = "m3";

static RENDERS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(RENDERS_AT_ONCE));

/// One lock per call being made, so the requests of one listen (a player
/// asks for several ranges at once) wait for one render instead of each
/// starting their own.
static MAKING: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Mutex::default);

/// Whether the sim call that ended with `outcome` has anything to hear.
pub fn worth_recording(outcome: &CallOutcome) -> bool {
    outcome.answered && outcome.transcript.iter().any(|e| spoken(e).is_some())
}

/// A sim call that is ending with something to hear: gives it its
/// `recording_url` when the workspace keeps recordings and the offline voice
/// is here to make them. Logged, never fatal: the call ends either way.
pub async fn offer(app: &App, tenant: &Tenant, call_id: &str) {
    let keeps = match crate::services::identity::get_org(app, &tenant.org_id).await {
        Ok((org, _)) => org.settings.recording_retention_days > 0,
        Err(e) => {
            tracing::warn!(call = %call_id, error = %e, "workspace settings unreadable; sim call not recorded");
            return;
        }
    };
    if !keeps || !voice_is_here().await {
        return;
    }
    let url = store::stream_url(app, tenant, call_id);
    if let Err(e) = store::set_recording_url(app, tenant, call_id, Some(url)).await {
        tracing::warn!(call = %call_id, error = %e, "a sim call's recording could not be offered");
    }
}

/// Makes the recording of ended sim call `call` (one with a `recording_url`
/// and no WAV yet) and stores it as the call's WAV. Errors: `recording` not
/// found when the workspace now keeps no recordings, unavailable when the
/// offline voice is not here or the process is busy making others.
pub(super) async fn render(app: &App, tenant: &Tenant, call: &Call) -> Result<()> {
    let this_call = {
        let mut making = MAKING.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(making.entry(call.id.clone()).or_default())
    };
    let made = make(app, tenant, call, &this_call).await;
    {
        let mut making = MAKING.lock().unwrap_or_else(|p| p.into_inner());
        // The last request of this call's listen clears its lock.
        if Arc::strong_count(&this_call) == 2 {
            making.remove(&call.id);
        }
    }
    made
}

async fn make(
    app: &App,
    tenant: &Tenant,
    call: &Call,
    this_call: &tokio::sync::Mutex<()>,
) -> Result<()> {
    let busy = || Error::Unavailable("recordings are being made; retry in a minute".into());
    let _this_call = tokio::time::timeout(WAIT_FOR_TURN, this_call.lock())
        .await
        .map_err(|_| busy())?;
    // Another request may have made it while this one waited.
    if store::has_wav(app, tenant, &call.id).await? {
        return Ok(());
    }
    let _turn = tokio::time::timeout(WAIT_FOR_TURN, RENDERS.acquire())
        .await
        .map_err(|_| busy())?
        .map_err(|_| Error::Internal("the sim recording queue closed".into()))?;
    let (org, _) = crate::services::identity::get_org(app, &tenant.org_id).await?;
    let settings = org.settings;
    if settings.recording_retention_days == 0 {
        return Err(Error::NotFound("recording"));
    }
    let espeak = tokio::task::spawn_blocking(offline::espeak)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(|e| {
            Error::Unavailable(format!(
                "this simulated call's recording is spoken by the offline voice, which is not here: {e}"
            ))
        })?;
    let agent_voice = match crate::services::agents::load(app, tenant, &call.agent_id).await {
        Ok((agent, _)) => crate::services::calls::voice::speak_options(&agent),
        Err(Error::NotFound(_)) => SpeakOptions::in_language(&settings.default_language),
        Err(e) => return Err(e),
    };
    let entries = super::super::full_transcript_of(app, tenant, call).await?;
    let tracks = speak(&espeak, &agent_voice, &entries, &call.id).await?;
    let length = tracks.caller.len().max(tracks.agent.len());
    let channels = settings.recording_channels;
    for start in (0..length).step_by(SEGMENT_SAMPLES) {
        let part = |track: &[i16]| {
            let end = (start + SEGMENT_SAMPLES).min(track.len());
            track.get(start..end).unwrap_or_default().to_vec()
        };
        let samples = super::join(channels, &part(&tracks.caller), &part(&tracks.agent));
        let key = store::segment_key(tenant, &call.id, start as u64, channels);
        app.blobs
            .put(&key, store::pcm_bytes(&samples), store::SEGMENT_TYPE)
            .await?;
    }
    drop(tracks);
    store::assemble(app, tenant, &call.id, settings.recording_retention_days).await?;
    Ok(())
}

/// Whether espeak-ng is here (found off the async threads: the first look
/// runs it twice to list its voices).
async fn voice_is_here() -> bool {
    tokio::task::spawn_blocking(|| offline::espeak().is_ok())
        .await
        .unwrap_or(false)
}

/// A call's two sides, 16 kHz, from call time 0.
#[derive(Debug, Default)]
struct Tracks {
    caller: Vec<i16>,
    agent: Vec<i16>,
}

/// Speaks each line of `entries` on its side: the callee on the caller's
/// track, the agent and supervisors on the agent's. A line starts at its
/// `at_ms`, or where the side's previous line ends if that is later (the
/// simulated clock and the voice do not speak at quite the same pace).
async fn speak(
    espeak: &Espeak,
    agent: &SpeakOptions,
    entries: &[TranscriptEntry],
    call_id: &str,
) -> Result<Tracks> {
    let voice = |variant: &str| SpeakOptions {
        voice_id: Some(format!("{}+{variant}", agent.language)),
        ..SpeakOptions::in_language(&agent.language)
    };
    let (callee, supervisor) = (voice(CALLEE_VARIANT), voice(SUPERVISOR_VARIANT));
    let limit = MAX_RENDERED_MS * u64::from(RATE) / 1000;
    let mut tracks = Tracks::default();
    for entry in entries {
        let Some(role) = spoken(entry) else { continue };
        let (options, track) = match role {
            Role::User => (&callee, &mut tracks.caller),
            Role::Supervisor => (&supervisor, &mut tracks.agent),
            _ => (agent, &mut tracks.agent),
        };
        let start = (entry.at_ms * u64::from(RATE) / 1000).max(track.len() as u64);
        if start >= limit {
            tracing::info!(call = %call_id, "sim recording cut at {} min", MAX_RENDERED_MS / 60_000);
            break;
        }
        let said = match espeak.speak(&entry.text, options).await {
            Ok(said) => said,
            Err(e @ SpeechError::BadRequest(_)) => {
                // One line the voice refuses (too long) leaves a silence, not a failed recording.
                tracing::warn!(call = %call_id, seq = entry.seq, error = %e, "a sim call's line was not spoken");
                continue;
            }
            // The voice itself failed: nothing is stored, the next request tries again.
            Err(e) => return Err(Error::Unavailable(format!("the offline voice failed: {e}"))),
        };
        let said = Pcm::new(offline::espeak::SAMPLE_RATE, said);
        let mut said = audio::resample(&said, RATE)
            .map_err(|e| Error::Internal(e.to_string()))?
            .samples;
        said.truncate((limit - start) as usize);
        track.resize(start as usize, 0);
        track.extend_from_slice(&said);
    }
    Ok(tracks)
}

/// The role whose voice says `entry`, or None for what nobody says aloud
/// (system notes, tool results, whispers).
fn spoken(entry: &TranscriptEntry) -> Option<Role> {
    let said = matches!(entry.role, Role::Agent | Role::User | Role::Supervisor);
    (said && !entry.text.trim().is_empty()).then_some(entry.role)
}
