//! The conversation of a voice call, in a task of its own: it takes the
//! caller's inputs and the supervisors' controls in order, runs each turn
//! of the [`crate::engine::conversation::Conversation`] (an LLM turn may
//! take seconds while the ears and mouth go on), streams the sentences it
//! decides, stores each transcript entry as it is said, keeps the call's
//! lease and notices an end from elsewhere.

use tokio::sync::mpsc;

use super::super::held::Held;
use crate::engine::call::{EndReason, TranscriptEntry};
use crate::engine::conversation::{Action, Input};
use crate::engine::sim::Steer;
use crate::services::calls::lease::RENEW_EVERY;
use crate::services::live::control::next_steer;

/// The carrier's handle on a phone call (for transfers).
#[derive(Debug, Clone)]
pub struct Carrier {
    /// The call's channel.
    pub channel_id: String,
    /// The carrier's id of the call (Twilio's `CallSid`).
    pub call_sid: String,
}

/// What the conversation tells the voice.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Said {
    /// A turn begins; `cut` when it must cut off what is being said (a
    /// supervisor's barge).
    Turn { cut: bool },
    /// A sentence of the agent's reply.
    Sentence(String),
    /// A supervisor's typed words for the caller.
    Person(String),
    /// The turn is over; its transcript entries are stored.
    Done {
        entries: Vec<TranscriptEntry>,
        ended: Option<EndReason>,
        /// A supervisor holds the call (the agent is quiet; their voice is played).
        paused: bool,
    },
    /// The call was ended elsewhere (the API, the live space) or its lease lost.
    Stopped,
}

/// Runs the conversation until `inputs` closes (the caller hung up, or the
/// voice is done) or the call is stopped elsewhere; returns the held call
/// for closing.
pub(super) async fn run(
    mut held: Held,
    carrier: Option<Carrier>,
    mut inputs: mpsc::UnboundedReceiver<Input>,
    said: mpsc::UnboundedSender<Said>,
    mut steering: Option<mpsc::Receiver<Steer>>,
) -> Held {
    let mut renew = tokio::time::interval(RENEW_EVERY);
    renew.tick().await;
    loop {
        tokio::select! {
            input = inputs.recv() => match input {
                Some(input) => turn(&mut held, carrier.as_ref(), input, &said).await,
                None => return held,
            },
            Some(steer) = next_steer(&mut steering) => {
                let Steer { input, done } = steer;
                if let Some(why) = held.refuses(&input) {
                    let _ = done.send(Err(why));
                    continue;
                }
                turn(&mut held, carrier.as_ref(), input, &said).await;
                let _ = done.send(Ok(()));
            }
            _ = renew.tick() => {
                if !held.keep().await {
                    let _ = said.send(Said::Stopped);
                    return held;
                }
            }
            () = held.stopped() => {
                let _ = said.send(Said::Stopped);
                return held;
            }
        }
    }
}

/// One turn: the sentences go out as the engine decides them; a transfer
/// goes to the carrier once the turn is decided.
async fn turn(
    held: &mut Held,
    carrier: Option<&Carrier>,
    input: Input,
    said: &mpsc::UnboundedSender<Said>,
) {
    let at_ms = held.elapsed_ms();
    let interrupted = matches!(input, Input::Interrupted { .. });
    // A supervisor's barge, and a voicemail's message (said after the
    // beep, not after a greeting that played to a machine), start at once.
    let _ = said.send(Said::Turn {
        cut: matches!(input, Input::Barge(_) | Input::Voicemail { .. }),
    });
    let mut transfers = Vec::new();
    held.conversation
        .handle(at_ms, input, &mut |action| match action {
            Action::Say(sentence) => {
                let _ = said.send(Said::Sentence(sentence));
            }
            Action::SupervisorSay(text) => {
                let _ = said.send(Said::Person(text));
            }
            Action::Transfer { number } => transfers.push(number),
            other => tracing::debug!(action = ?other, "voice call action"),
        })
        .await;
    for number in transfers {
        let Some(carrier) = carrier else {
            tracing::warn!(call = %held.call_id, "a transfer on a call with no carrier");
            continue;
        };
        if let Err(e) = super::super::media::transfer(
            &held.app,
            &held.tenant,
            &carrier.channel_id,
            &carrier.call_sid,
            &number,
        )
        .await
        {
            tracing::warn!(call = %held.call_id, error = %e, "the carrier did not transfer the call");
        }
    }
    if interrupted {
        held.store_interrupted().await;
    }
    let entries = held.store_new_entries().await;
    let _ = said.send(Said::Done {
        entries,
        ended: held.conversation.ended(),
        paused: held.conversation.is_paused(),
    });
}
