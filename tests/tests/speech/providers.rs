//! The cloud speech clients (Deepgram live STT, OpenAI STT and TTS,
//! ElevenLabs stream-input TTS) against doubles speaking each provider's
//! public protocol on 127.0.0.1: the happy path, interim → final, cancel,
//! and every error class.

use std::time::{Duration, Instant};

use switchboard::speech::cloud::{ApiKey, Timeouts};
use switchboard::speech::deepgram::DeepgramTranscriber;
use switchboard::speech::elevenlabs::ElevenLabsSynthesizer;
use switchboard::speech::openai::{OpenAiSynthesizer, OpenAiTranscriber};
use switchboard::speech::{
    SpeakOptions, SpeechError, Synthesizer, TranscribeOptions, Transcriber, TranscriptionSession,
    Utterance,
};
use switchboard_tests::speech_doubles::deepgram::DeepgramDouble;
use switchboard_tests::speech_doubles::elevenlabs::{self, ElevenLabsDouble};
use switchboard_tests::speech_doubles::openai::{self, OpenAiAudioDouble};
use switchboard_tests::speech_doubles::{Fault, Script, tone};

/// Whether an error is of the expected class.
type Check = fn(&SpeechError) -> bool;

const KEY: &str = "sk-speech-secret-0123456789";

fn short() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        reply: Duration::from_millis(400),
    }
}

fn listen() -> TranscribeOptions {
    TranscribeOptions {
        language: "en-US".into(),
        sample_rate: 16_000,
    }
}

fn speak(voice: Option<&str>) -> SpeakOptions {
    SpeakOptions {
        voice_id: voice.map(str::to_owned),
        language: "en-US".into(),
        speed: Some(1.1),
        stability: Some(0.5),
        similarity_boost: Some(0.8),
    }
}

/// 20 ms of speech-like audio at 16 kHz.
fn frame() -> Vec<i16> {
    tone(16_000, 320)
}

/// Polls `check` until it holds (the doubles record asynchronously).
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Peeks until the text is `want` or the session fails.
async fn peek_until(
    session: &mut Box<dyn TranscriptionSession>,
    want: &str,
) -> Result<String, SpeechError> {
    let start = Instant::now();
    loop {
        let text = session.peek().await?;
        if text == want || start.elapsed() > Duration::from_secs(5) {
            return Ok(text);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends `sentences`, ends the input, reads all audio: the samples and the error that ended it.
async fn speak_all(
    mut utterance: Utterance,
    sentences: &[&str],
) -> (Vec<i16>, Option<SpeechError>) {
    for s in sentences {
        utterance
            .text
            .send(s.to_string())
            .await
            .expect("engine listening");
    }
    drop(utterance.text);
    let mut samples = Vec::new();
    let read = async {
        while let Some(chunk) = utterance.audio.recv().await {
            match chunk {
                Ok(chunk) => samples.extend(chunk),
                Err(e) => return Some(e),
            }
        }
        None
    };
    let error = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the audio ends");
    (samples, error)
}

fn no_key_in(error: &SpeechError) {
    assert!(
        !format!("{error} {error:?}").contains(KEY),
        "{error:?} leaks the key"
    );
}

// ---- Deepgram ---------------------------------------------------------------

fn deepgram(double: &DeepgramDouble) -> DeepgramTranscriber {
    DeepgramTranscriber::new(&double.base, "nova-3", ApiKey::new(KEY)).with_timeouts(short())
}

#[tokio::test]
async fn deepgram_streams_interims_then_finalizes_each_turn() {
    let double = DeepgramDouble::start().await;
    double.turns(&["my number is four one five", "yes that works"]);
    let client = deepgram(&double);
    assert_eq!(client.name(), "deepgram:nova-3");
    assert!(!format!("{client:?}").contains(KEY));
    let mut session = client.open(&listen()).await.expect("connects");

    for _ in 0..4 {
        session.push(&frame()).await.unwrap();
    }
    // Three words made a final segment, the fourth is an interim after it.
    let heard = peek_until(&mut session, "my number is four").await.unwrap();
    assert_eq!(heard, "my number is four");
    // Finalize flushes the words Deepgram still held.
    assert_eq!(session.take().await.unwrap(), "my number is four one five");

    session.push(&frame()).await.unwrap();
    assert_eq!(peek_until(&mut session, "yes").await.unwrap(), "yes");
    assert_eq!(session.take().await.unwrap(), "yes that works");
    // A turn with no audio does not ask Deepgram anything.
    assert_eq!(session.take().await.unwrap(), "");
    session.close().await;

    eventually("CloseStream", || double.recorded().closed_by_client == 1).await;
    let rec = double.recorded();
    assert_eq!(rec.audio_bytes, 5 * 320 * 2);
    assert_eq!(rec.controls, ["Finalize", "Finalize", "CloseStream"]);
    assert_eq!(rec.authorization.as_deref(), Some(&*format!("Token {KEY}")));
    for (name, value) in [
        ("encoding", "linear16"),
        ("sample_rate", "16000"),
        ("language", "en-US"),
        ("model", "nova-3"),
        ("interim_results", "true"),
        ("punctuate", "true"),
    ] {
        assert_eq!(
            rec.query.get(name).map(String::as_str),
            Some(value),
            "{name}"
        );
    }
}

#[tokio::test]
async fn deepgram_refusals_map_to_their_error() {
    let double = DeepgramDouble::start().await;
    for (status, check) in [
        (
            401,
            (|e: &SpeechError| matches!(e, SpeechError::Auth(_))) as Check,
        ),
        (403, |e| matches!(e, SpeechError::Auth(_))),
        (429, |e| *e == SpeechError::RateLimited),
        (400, |e| matches!(e, SpeechError::BadRequest(_))),
        (503, |e| matches!(e, SpeechError::Unavailable(_))),
    ] {
        double.script(Script::fault(Fault::Status(status)));
        let error = deepgram(&double)
            .open(&listen())
            .await
            .err()
            .expect("refused");
        assert!(check(&error), "{status}: {error:?}");
        no_key_in(&error);
    }
    // Nothing listening: unavailable, quickly.
    let gone = DeepgramTranscriber::new("http://127.0.0.1:1", "nova-3", ApiKey::new(KEY));
    let error = gone.open(&listen()).await.err().expect("no server");
    assert!(matches!(error, SpeechError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn deepgram_cut_or_garbled_sockets_fail_the_session() {
    let double = DeepgramDouble::start().await;
    double.turns(&["one two three four five six"]);
    for (fault, check) in [
        (
            Fault::DropAfter(2),
            (|e: &SpeechError| matches!(e, SpeechError::Unavailable(_))) as Check,
        ),
        (Fault::Malformed, |e| {
            matches!(e, SpeechError::InvalidResponse(_))
        }),
    ] {
        double.script(Script::fault(fault.clone()));
        let mut session = deepgram(&double).open(&listen()).await.unwrap();
        let start = Instant::now();
        let error = loop {
            let pushed = session.push(&frame()).await;
            match pushed.and(session.peek().await) {
                Err(e) => break e,
                Ok(_) => assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "{fault:?} never failed"
                ),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(check(&error), "{fault:?}: {error:?}");
        // The failure sticks: take reports it too instead of inventing a transcript.
        let again = session.take().await.expect_err("still failed");
        assert!(check(&again), "{fault:?}: {again:?}");
    }
}

/// A pause `settle`s: `Finalize` goes out at once and Deepgram flushes what
/// the audio so far covers, while the end of the turn is still waited for.
/// A caller who goes on is heard on; the turn's `take` sends `Finalize` only
/// for audio after the last one, and waits for an answer still on its way.
#[tokio::test]
async fn deepgram_settles_each_pause_so_the_end_of_the_turn_waits_for_nothing() {
    let double = DeepgramDouble::start().await;
    let flush = Duration::from_millis(150);
    double.script(Script::ok().final_after(flush));
    // Eight words over 320 ms of audio: 16 frames.
    double.spoken_turns(&[
        (
            "I moved last month so my address changed",
            Duration::from_millis(320),
        ),
        ("yes", Duration::from_millis(20)),
    ]);
    let mut session = deepgram(&double).open(&listen()).await.unwrap();
    let finalizes = || {
        let rec = double.recorded();
        rec.controls.iter().filter(|c| *c == "Finalize").count()
    };

    for _ in 0..8 {
        session.push(&frame()).await.unwrap();
    }
    session.settle().await.unwrap(); // "I moved last month, [pause]"
    eventually("the first Finalize", || finalizes() == 1).await;
    assert_eq!(
        peek_until(&mut session, "I moved last month")
            .await
            .unwrap(),
        "I moved last month"
    );
    session.settle().await.unwrap(); // the pause goes on: nothing new to flush
    for _ in 0..8 {
        session.push(&frame()).await.unwrap();
    }
    session.settle().await.unwrap(); // "so my address changed. [pause]"
    let whole = "I moved last month so my address changed";
    assert_eq!(peek_until(&mut session, whole).await.unwrap(), whole);
    // The pause lasts long enough for its flush to come back.
    tokio::time::sleep(flush + Duration::from_millis(100)).await;
    let asked = Instant::now();
    assert_eq!(session.take().await.unwrap(), whole);
    assert!(
        asked.elapsed() < Duration::from_millis(100),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(
        finalizes(),
        2,
        "the end of the turn asked Deepgram nothing more"
    );

    // The turn ends before the pause's flush is back: take waits for it.
    session.push(&frame()).await.unwrap();
    session.settle().await.unwrap();
    let asked = Instant::now();
    assert_eq!(session.take().await.unwrap(), "yes");
    assert!(
        asked.elapsed() >= flush - Duration::from_millis(20),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(finalizes(), 3);
}

/// Deepgram does not promise a reply to `Finalize` when it held nothing
/// significant: with no unfinished word, `take` gives the reply a short
/// chance (200 ms), not the whole reply timeout.
#[tokio::test]
async fn deepgram_take_is_bounded_when_finalize_goes_unanswered() {
    let double = DeepgramDouble::start().await;
    double.script(Script::fault(Fault::Silent));
    double.turns(&["hello"]);
    let mut session = deepgram(&double).open(&listen()).await.unwrap();
    session.push(&frame()).await.unwrap();
    let start = Instant::now();
    assert_eq!(session.take().await.unwrap(), "");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(180) && waited < Duration::from_millis(400),
        "{waited:?}"
    );
}

// ---- OpenAI transcription -----------------------------------------------------

fn openai_stt(double: &OpenAiAudioDouble) -> OpenAiTranscriber {
    OpenAiTranscriber::new(
        &double.base,
        "gpt-4o-mini-transcribe",
        ApiKey::new(KEY),
        reqwest::Client::new(),
    )
    .with_timeouts(short())
}

#[tokio::test]
async fn openai_transcribes_the_turn_as_a_wav_and_caches_peeks() {
    let double = OpenAiAudioDouble::start().await;
    double.transcript("Hello there.");
    let client = openai_stt(&double);
    assert!(!format!("{client:?}").contains(KEY));
    let mut session = client.open(&listen()).await.unwrap();
    // No audio: no request.
    assert_eq!(session.peek().await.unwrap(), "");
    let audio = tone(16_000, 8_000);
    session.push(&audio).await.unwrap();
    assert_eq!(session.peek().await.unwrap(), "Hello there.");
    // 100 ms more is below the peek threshold: the cached text, no request.
    session.push(&tone(16_000, 1_600)).await.unwrap();
    assert_eq!(session.peek().await.unwrap(), "Hello there.");
    assert_eq!(double.recorded().transcriptions.len(), 1);
    // take transcribes everything (the cache does not cover the last 100 ms).
    assert_eq!(session.take().await.unwrap(), "Hello there.");
    assert_eq!(
        session.take().await.unwrap(),
        "",
        "the next turn starts empty"
    );

    let rec = double.recorded();
    assert_eq!(rec.transcriptions.len(), 2);
    let first = &rec.transcriptions[0];
    assert_eq!(
        first.authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_eq!(first.field("model"), Some("gpt-4o-mini-transcribe"));
    assert_eq!(first.field("language"), Some("en"));
    assert_eq!(first.field("response_format"), Some("json"));
    assert_eq!(first.file_name.as_deref(), Some("audio.wav"));
    assert_eq!(first.sample_rate, 16_000);
    assert_eq!(first.samples, audio);
    assert_eq!(rec.transcriptions[1].samples.len(), 9_600);
}

#[tokio::test]
async fn openai_transcription_errors_map_to_their_class() {
    let double = OpenAiAudioDouble::start().await;
    let cases: [(Fault, Check); 6] = [
        (Fault::Status(401), |e| matches!(e, SpeechError::Auth(_))),
        (Fault::Status(429), |e| *e == SpeechError::RateLimited),
        (
            Fault::Status(400),
            |e| matches!(e, SpeechError::BadRequest(m) if m.contains("scripted refusal")),
        ),
        (Fault::Status(502), |e| {
            matches!(e, SpeechError::Unavailable(_))
        }),
        (Fault::Malformed, |e| {
            matches!(e, SpeechError::InvalidResponse(_))
        }),
        (Fault::Silent, |e| matches!(e, SpeechError::Unavailable(_))),
    ];
    for (fault, check) in cases {
        double.script(Script::fault(fault.clone()));
        let mut session = openai_stt(&double).open(&listen()).await.unwrap();
        session.push(&frame()).await.unwrap();
        let start = Instant::now();
        let error = session.take().await.expect_err("fails");
        assert!(check(&error), "{fault:?}: {error:?}");
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "{fault:?} took {:?}",
            start.elapsed()
        );
        no_key_in(&error);
    }
}

// ---- OpenAI speech ------------------------------------------------------------

fn openai_tts(double: &OpenAiAudioDouble) -> OpenAiSynthesizer {
    OpenAiSynthesizer::new(
        &double.base,
        "gpt-4o-mini-tts",
        ApiKey::new(KEY),
        reqwest::Client::new(),
    )
    .with_timeouts(short())
}

#[tokio::test]
async fn openai_speaks_each_sentence_as_streamed_pcm() {
    let double = OpenAiAudioDouble::start().await;
    let client = openai_tts(&double);
    assert_eq!(client.sample_rate(), 24_000);
    let utterance = client.open(&speak(Some("verse"))).await.unwrap();
    let (samples, error) = speak_all(utterance, &["Hello.", "  ", "How are you?"]).await;
    assert_eq!(error, None);
    // Every byte arrived, whole samples across odd-sized chunks.
    let want: Vec<i16> = [
        tone(24_000, 6 * openai::SAMPLES_PER_CHAR),
        tone(24_000, 12 * openai::SAMPLES_PER_CHAR),
    ]
    .concat();
    assert_eq!(samples, want);
    let rec = double.recorded();
    assert_eq!(rec.speech.len(), 2, "a blank sentence is not sent");
    assert_eq!(rec.speech[0]["input"], "Hello.");
    assert_eq!(rec.speech[1]["input"], "How are you?");
    for body in &rec.speech {
        assert_eq!(body["model"], "gpt-4o-mini-tts");
        assert_eq!(body["voice"], "verse");
        assert_eq!(body["response_format"], "pcm");
        assert_eq!(body["speed"], 1.1);
    }
    assert_eq!(
        rec.speech_auth[0].as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
}

#[tokio::test]
async fn openai_speech_stops_when_the_utterance_is_dropped() {
    let double = OpenAiAudioDouble::start().await;
    double.script(Script::ok().chunks_every(Duration::from_millis(20)));
    let mut utterance = openai_tts(&double).open(&speak(None)).await.unwrap();
    utterance.text.send("a".repeat(200)).await.unwrap();
    for _ in 0..2 {
        utterance
            .audio
            .recv()
            .await
            .expect("audio")
            .expect("no error");
    }
    drop(utterance);
    eventually("the double to see the client leave", || {
        double.recorded().cancelled == 1
    })
    .await;
    let rec = double.recorded();
    let total = (200 * openai::SAMPLES_PER_CHAR * 2).div_ceil(999);
    assert!(
        rec.chunks_sent < total / 2,
        "{} of {total} chunks sent",
        rec.chunks_sent
    );
    assert_eq!(rec.speech[0]["voice"], "alloy");
}

#[tokio::test]
async fn openai_speech_errors_end_the_audio_with_their_class() {
    let double = OpenAiAudioDouble::start().await;
    let cases: [(Fault, Check); 5] = [
        (Fault::Status(401), |e| matches!(e, SpeechError::Auth(_))),
        (Fault::Status(429), |e| *e == SpeechError::RateLimited),
        (Fault::Status(500), |e| {
            matches!(e, SpeechError::Unavailable(_))
        }),
        (Fault::DropAfter(2), |e| {
            matches!(e, SpeechError::Unavailable(_))
        }),
        (Fault::Silent, |e| matches!(e, SpeechError::Unavailable(_))),
    ];
    for (fault, check) in cases {
        double.script(Script::fault(fault.clone()));
        let utterance = openai_tts(&double).open(&speak(None)).await.unwrap();
        let (_, error) = speak_all(utterance, &["This will not be spoken in full."]).await;
        let error = error.unwrap_or_else(|| panic!("{fault:?} ended without an error"));
        assert!(check(&error), "{fault:?}: {error:?}");
        no_key_in(&error);
    }
}

// ---- ElevenLabs -----------------------------------------------------------------

fn eleven(double: &ElevenLabsDouble) -> ElevenLabsSynthesizer {
    ElevenLabsSynthesizer::new(&double.base, "eleven_flash_v2_5", ApiKey::new(KEY))
        .with_timeouts(short())
}

#[tokio::test]
async fn elevenlabs_streams_sentences_in_and_audio_out() {
    let double = ElevenLabsDouble::start().await;
    let client = eleven(&double);
    assert_eq!(client.sample_rate(), 16_000);
    assert!(!format!("{client:?}").contains(KEY));
    let utterance = client.open(&speak(Some("voice-1"))).await.unwrap();
    let (samples, error) = speak_all(utterance, &["Hello there.", "Bye."]).await;
    assert_eq!(error, None);
    let mut want = tone(elevenlabs::RATE, 13 * elevenlabs::SAMPLES_PER_CHAR);
    want.extend(tone(elevenlabs::RATE, 5 * elevenlabs::SAMPLES_PER_CHAR));
    assert_eq!(samples.len(), want.len());

    let rec = double.recorded();
    assert_eq!(rec.api_key.as_deref(), Some(KEY));
    assert_eq!(rec.voice_id.as_deref(), Some("voice-1"));
    assert_eq!(
        rec.query.get("model_id").map(String::as_str),
        Some("eleven_flash_v2_5")
    );
    assert_eq!(
        rec.query.get("output_format").map(String::as_str),
        Some("pcm_16000")
    );
    let first = rec.first.expect("a first message");
    assert_eq!(first["text"], " ");
    assert_eq!(first["voice_settings"]["stability"], 0.5);
    assert_eq!(first["voice_settings"]["similarity_boost"], 0.8);
    assert_eq!(first["voice_settings"]["speed"], 1.1);
    assert!(
        first.get("xi_api_key").is_none(),
        "the key goes in the header only"
    );
    let texts: Vec<_> = rec.messages.iter().map(|m| m["text"].clone()).collect();
    assert_eq!(texts, ["Hello there. ", "Bye. ", ""]);
    assert_eq!(rec.messages[0]["flush"], true);
    assert_eq!(rec.cancelled, 0);
}

#[tokio::test]
async fn elevenlabs_stops_when_the_utterance_is_dropped() {
    let double = ElevenLabsDouble::start().await;
    double.script(Script::ok().chunks_every(Duration::from_millis(20)));
    let mut utterance = eleven(&double).open(&speak(None)).await.unwrap();
    utterance.text.send("a".repeat(200)).await.unwrap();
    for _ in 0..2 {
        utterance
            .audio
            .recv()
            .await
            .expect("audio")
            .expect("no error");
    }
    drop(utterance);
    eventually("the double to see the client leave", || {
        double.recorded().cancelled == 1
    })
    .await;
    let rec = double.recorded();
    assert!(
        rec.chunks_sent < 10,
        "{} of 20 chunks sent",
        rec.chunks_sent
    );
    assert_eq!(
        rec.voice_id.as_deref(),
        Some(switchboard::speech::elevenlabs::DEFAULT_VOICE)
    );
}

#[tokio::test]
async fn elevenlabs_errors_map_to_their_class() {
    let double = ElevenLabsDouble::start().await;
    for (status, check) in [
        (
            401,
            (|e: &SpeechError| matches!(e, SpeechError::Auth(_))) as Check,
        ),
        (429, |e| *e == SpeechError::RateLimited),
        (404, |e| matches!(e, SpeechError::BadRequest(_))),
        (500, |e| matches!(e, SpeechError::Unavailable(_))),
    ] {
        double.script(Script::fault(Fault::Status(status)));
        let error = eleven(&double)
            .open(&speak(None))
            .await
            .expect_err("refused");
        assert!(check(&error), "{status}: {error:?}");
        no_key_in(&error);
    }
    let cases: [(Fault, Check); 6] = [
        (Fault::ErrorMessage("quota_exceeded".into()), |e| {
            *e == SpeechError::RateLimited
        }),
        (Fault::ErrorMessage("invalid_api_key".into()), |e| {
            matches!(e, SpeechError::Auth(_))
        }),
        (Fault::Close(1008), |e| matches!(e, SpeechError::Auth(_))),
        (Fault::DropAfter(1), |e| {
            matches!(e, SpeechError::Unavailable(_))
        }),
        (Fault::Malformed, |e| {
            matches!(e, SpeechError::InvalidResponse(_))
        }),
        (Fault::Silent, |e| matches!(e, SpeechError::Unavailable(_))),
    ];
    for (fault, check) in cases {
        double.script(Script::fault(fault.clone()));
        let utterance = eleven(&double).open(&speak(None)).await.unwrap();
        let (_, error) = speak_all(utterance, &["This will not be spoken in full, no."]).await;
        let error = error.unwrap_or_else(|| panic!("{fault:?} ended without an error"));
        assert!(check(&error), "{fault:?}: {error:?}");
        no_key_in(&error);
    }
}

// ---- Latency ------------------------------------------------------------------------

/// A provider that takes its time (within the reply limit) is waited for, and
/// its first audio is forwarded the moment it arrives.
#[tokio::test]
async fn synthesizers_forward_first_audio_as_soon_as_it_comes() {
    let delay = Duration::from_millis(250);
    let (eleven_double, openai_double) = (
        ElevenLabsDouble::start().await,
        OpenAiAudioDouble::start().await,
    );
    eleven_double.script(Script::ok().first_after(delay));
    openai_double.script(Script::ok().first_after(delay));
    let engines: [Box<dyn Synthesizer>; 2] = [
        Box::new(eleven(&eleven_double)),
        Box::new(openai_tts(&openai_double)),
    ];
    for engine in engines {
        let mut utterance = engine.open(&speak(None)).await.unwrap();
        let start = Instant::now();
        utterance.text.send("Hello there.".into()).await.unwrap();
        let first = utterance
            .audio
            .recv()
            .await
            .expect("audio")
            .expect("no error");
        let waited = start.elapsed();
        assert!(!first.is_empty());
        assert!(
            waited >= delay && waited < delay + Duration::from_millis(500),
            "{}: first audio after {waited:?}",
            engine.name()
        );
    }
}
