//! Call recordings (SPEC §10): both sides of a call in one 16 kHz WAV,
//! mixed into one mono track or, when the workspace's `recording_channels`
//! is `dual`, one track per side (stereo: the caller left, the agent right),
//! written to blobs while the call runs.
//!
//! The voice pipeline owns one [`Recorder`] per call and feeds it the
//! caller's audio (continuous, from call time 0) and the agent's audio (placed
//! at the call time it is played from). Audio older than the caller's
//! position minus [`HOLD_BACK_SAMPLES`] is final (a barge-in can no longer cut
//! agent audio that far back): [`Recorder::flush`] mixes (or interleaves) it
//! and writes it as one raw PCM16 segment, `<org>/<mode>/recordings/<call>/
//! seg-<first sample, 12 digits>.pcm` (`….dual.pcm` for two tracks), once
//! [`SEGMENT_SAMPLES`] of it are ready. So a crash loses
//! at most a few seconds, and a call's memory stays bounded whatever its
//! length. [`Recorder::finish`] writes the rest and joins the segments into
//! `…/recordings/<call>/call.wav` ([`store::assemble`]): the call's
//! `recording_url` is set, the recording's deletion is scheduled after the
//! workspace's `recording_retention_days`, and the segments go.
//!
//! A call whose runner died never reaches `finish` and leaves only segments:
//! the first `GET /calls/{id}/recording` (or `…/stream`) after it ended joins
//! them then ([`store::recorded_key`]).

pub mod sim;
pub mod store;

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::App;
use crate::domain::Tenant;
use crate::domain::identity::RecordingChannels;
use crate::error::{Error, Result};
use crate::speech::audio;
use crate::store::StoreResult;

pub use store::{link, stream, sweep_expired};

/// The recording's sample rate (what speech-to-text hears).
pub const RATE: u32 = 16_000;

/// Samples per millisecond at [`RATE`].
const PER_MS: u64 = RATE as u64 / 1000;

/// Samples a segment holds at least (3 s, 96 KB): the pipeline flushes about
/// every second, so a crash loses at most this plus [`HOLD_BACK_SAMPLES`]
/// plus one flush interval (under 5 s).
pub const SEGMENT_SAMPLES: usize = 3 * RATE as usize;

/// The newest audio kept in memory at a flush (500 ms): the agent's audio
/// there may still be cut by a barge-in that the pipeline reports a little
/// after the caller's audio of the same instant.
pub const HOLD_BACK_SAMPLES: usize = RATE as usize / 2;

/// Unwritten audio past which a recorder whose segments the store keeps
/// refusing gives up (60 s, ~2 MB), so a store outage cannot grow a call's
/// memory without bound.
const MAX_BACKLOG_SAMPLES: usize = 60 * RATE as usize;

/// How far past the caller's position agent audio may be placed (2 min,
/// 3.8 MB of silence at worst): replies are played as they are made, so
/// anything further is a bad `at_ms`.
const MAX_AHEAD_SAMPLES: u64 = 2 * 60 * RATE as u64;

/// Records one call. Owned by the call's pipeline task, so it needs no locks.
pub struct Recorder {
    app: Arc<App>,
    tenant: Tenant,
    call_id: String,
    retention_days: u32,
    channels: RecordingChannels,
    /// Call time, in samples, of the first sample not yet in a segment.
    written: u64,
    /// Caller audio from `written` on.
    caller: Vec<i16>,
    /// Agent audio from `written` on, silence where the agent said nothing,
    /// as far as the agent's audio reaches.
    agent: Vec<i16>,
    /// Call time, in samples, where the agent's audio placed so far ends
    /// (before `written` when it ended in a written segment or was cut).
    agent_end: u64,
    /// The segment being written in the background (at most one).
    in_flight: Option<InFlight>,
    /// The store refused segments for too long: audio is dropped from then on.
    broken: bool,
}

/// A segment's write, kept until it succeeds so a failure can be retried.
struct InFlight {
    key: String,
    bytes: bytes::Bytes,
    write: JoinHandle<StoreResult<()>>,
}

impl InFlight {
    fn spawn(app: &Arc<App>, key: String, bytes: bytes::Bytes) -> InFlight {
        let (app, k, b) = (app.clone(), key.clone(), bytes.clone());
        let write = tokio::spawn(async move { app.blobs.put(&k, b, store::SEGMENT_TYPE).await });
        InFlight { key, bytes, write }
    }

    /// Waits for the write; on failure hands the segment back with why.
    async fn outcome(self) -> std::result::Result<(), Failed> {
        let why = match self.write.await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        Err(Failed {
            key: self.key,
            bytes: self.bytes,
            why,
        })
    }
}

/// A segment whose write failed.
struct Failed {
    key: String,
    bytes: bytes::Bytes,
    why: String,
}

impl Recorder {
    /// A recorder for call `call_id`, in the workspace's `recording_channels`.
    /// None when the workspace keeps no recordings (`recording_retention_days`
    /// 0), or its settings cannot be read (the call goes on unrecorded; logged).
    pub async fn start(app: Arc<App>, tenant: Tenant, call_id: &str) -> Option<Recorder> {
        let (days, channels) = match crate::services::identity::get_org(&app, &tenant.org_id).await
        {
            Ok((org, _)) => (
                org.settings.recording_retention_days,
                org.settings.recording_channels,
            ),
            Err(e) => {
                tracing::warn!(call = %call_id, error = %e, "workspace settings unreadable; call not recorded");
                return None;
            }
        };
        (days > 0).then(|| Recorder {
            app,
            tenant,
            call_id: call_id.to_owned(),
            retention_days: days,
            channels,
            written: 0,
            caller: Vec::with_capacity(SEGMENT_SAMPLES + HOLD_BACK_SAMPLES + RATE as usize),
            agent: Vec::new(),
            agent_end: 0,
            in_flight: None,
            broken: false,
        })
    }

    /// Caller audio, 16 kHz mono PCM16, in order, continuous (silence
    /// included), starting at call time 0.
    pub fn caller(&mut self, samples: &[i16]) {
        if !self.broken {
            self.caller.extend_from_slice(samples);
        }
    }

    /// Agent audio, 16 kHz, played from call time `at_ms` (sample-accurate:
    /// `at_ms * 16`). Audio placed before the end of the previous piece
    /// starts at that end instead (nothing the agent said is lost or
    /// overlaid); the part of it before what segments already hold is dropped.
    pub fn agent(&mut self, at_ms: u64, samples: &[i16]) {
        if self.broken || samples.is_empty() {
            return;
        }
        let start = at_ms.saturating_mul(PER_MS).max(self.agent_end);
        let heard_until = self.written + self.caller.len() as u64;
        if start > heard_until.saturating_add(MAX_AHEAD_SAMPLES) {
            tracing::warn!(call = %self.call_id, at_ms, "agent audio placed too far ahead; not recorded");
            return;
        }
        self.agent_end = start + samples.len() as u64;
        if self.agent_end <= self.written {
            // All of it falls in audio already written out: nothing to add.
            return;
        }
        let skip = (self.written.saturating_sub(start) as usize).min(samples.len());
        // `start + skip >= written`, and the buffer ends at or before `start`.
        let offset = (start + skip as u64 - self.written) as usize;
        self.agent.resize(offset, 0);
        self.agent.extend_from_slice(&samples[skip..]);
    }

    /// The agent's audio after call time `at_ms` was never heard (barge-in
    /// `clear`): drops it. What segments already hold stays.
    pub fn cut_agent(&mut self, at_ms: u64) {
        let cut = at_ms.saturating_mul(PER_MS);
        if cut < self.agent_end {
            self.agent_end = cut;
            self.agent
                .truncate(cut.saturating_sub(self.written) as usize);
        }
    }

    /// Starts writing a segment when [`SEGMENT_SAMPLES`] of final audio are
    /// ready. The write runs in the background (the pipeline's task never
    /// waits on the store), one segment at a time; a failed one is retried at
    /// the next flush, and after `MAX_BACKLOG_SAMPLES` of failures the
    /// recorder gives up (logged).
    pub async fn flush(&mut self) {
        if self.broken {
            return;
        }
        if let Some(previous) = self.in_flight.take() {
            if !previous.write.is_finished() {
                self.in_flight = Some(previous);
                return;
            }
            if let Err(failed) = previous.outcome().await {
                tracing::warn!(call = %self.call_id, error = %failed.why, "recording segment not written; retrying");
                if self.caller.len() > MAX_BACKLOG_SAMPLES {
                    tracing::error!(call = %self.call_id, "recording abandoned: the blob store refused its segments for a minute");
                    self.broken = true;
                    self.caller = Vec::new();
                    self.agent = Vec::new();
                    return;
                }
                self.in_flight = Some(InFlight::spawn(&self.app, failed.key, failed.bytes));
                return;
            }
        }
        let ready = self.caller.len().saturating_sub(HOLD_BACK_SAMPLES);
        if ready >= SEGMENT_SAMPLES {
            let (key, bytes) = self.cut_segment(ready);
            self.in_flight = Some(InFlight::spawn(&self.app, key, bytes));
        }
    }

    /// The call ended: writes what is left, joins the segments into the final
    /// WAV and sets the call's `recording_url`. A call with no audio at all
    /// gets no recording. On error the segments stay, and the first read of
    /// the recording joins them.
    pub async fn finish(mut self) -> Result<()> {
        if !self.broken {
            self.settle().await?;
        }
        if self.broken {
            store::delete(&self.app, &self.tenant, &self.call_id).await?;
            return Err(Error::Internal(format!(
                "the recording of call {} was abandoned (blob store unavailable)",
                self.call_id
            )));
        }
        let rest = self.caller.len().max(self.agent.len());
        if rest > 0 {
            self.caller.resize(rest, 0);
            let (key, bytes) = self.cut_segment(rest);
            self.app.blobs.put(&key, bytes, store::SEGMENT_TYPE).await?;
        }
        store::assemble(&self.app, &self.tenant, &self.call_id, self.retention_days).await?;
        Ok(())
    }

    /// Waits for the segment in flight, retrying it once if it failed.
    async fn settle(&mut self) -> Result<()> {
        if let Some(previous) = self.in_flight.take()
            && let Err(failed) = previous.outcome().await
        {
            self.app
                .blobs
                .put(&failed.key, failed.bytes, store::SEGMENT_TYPE)
                .await?;
        }
        Ok(())
    }

    /// Mixes (or, for two tracks, interleaves) the first `n` buffered
    /// samples of both sides (`n` at most the caller's) into one segment,
    /// drops them from memory and returns the segment's key and bytes.
    fn cut_segment(&mut self, n: usize) -> (String, bytes::Bytes) {
        let agent_done = n.min(self.agent.len());
        let samples = join(self.channels, &self.caller[..n], &self.agent[..agent_done]);
        let key = store::segment_key(&self.tenant, &self.call_id, self.written, self.channels);
        self.caller.drain(..n);
        self.agent.drain(..agent_done);
        self.written += n as u64;
        (key, store::pcm_bytes(&samples))
    }
}

/// A segment's samples from the two sides, in the layout `channels`: mixed
/// into one track, or interleaved (the caller left, the agent right).
fn join(channels: RecordingChannels, caller: &[i16], agent: &[i16]) -> Vec<i16> {
    match channels {
        RecordingChannels::Mixed => audio::mix(caller, agent),
        RecordingChannels::Dual => audio::interleave(caller, agent),
    }
}

#[cfg(test)]
mod tests;
