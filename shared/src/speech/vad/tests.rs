use super::*;
use crate::speech::Pcm;
use crate::speech::audio::{FRAME_MS, read_wav, resample, samples_in, ulaw_decode, ulaw_encode};

/// The caller speech fixtures (espeak-ng, 16 kHz; see their README).
pub(crate) const FIXTURES: [(&str, &[u8]); 3] = [
    (
        "book-a-table",
        include_bytes!("../../../../tests/fixtures/speech/audio/book-a-table.wav"),
    ),
    (
        "read-a-number",
        include_bytes!("../../../../tests/fixtures/speech/audio/read-a-number.wav"),
    ),
    (
        "speak-to-a-human",
        include_bytes!("../../../../tests/fixtures/speech/audio/speak-to-a-human.wav"),
    ),
];

/// Deterministic white noise at about `level_db` dBFS RMS.
pub(crate) fn noise(len: usize, level_db: f64, seed: u64) -> Vec<i16> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    // A uniform signal in [-a, a] has RMS a/√3.
    let amplitude = 32768.0 * 10f64.powf(level_db / 20.0) * 3f64.sqrt();
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            (unit * amplitude).round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// Runs `pcm` through a fresh detector in 20 ms frames: the smoothed
/// decision per frame.
fn decisions(pcm: &Pcm) -> Vec<bool> {
    let mut vad = Vad::new(pcm.rate, VadConfig::default()).unwrap();
    pcm.samples
        .chunks(samples_in(pcm.rate, FRAME_MS))
        .map(|frame| vad.push(frame).speech)
        .collect()
}

/// The fixture with half a second of silence before and after.
fn padded(bytes: &[u8]) -> Pcm {
    let speech = read_wav(bytes).unwrap();
    let pad = vec![0; samples_in(speech.rate, 500)];
    let samples = [pad.clone(), speech.samples, pad].concat();
    Pcm::new(speech.rate, samples)
}

#[test]
fn finds_the_speech_in_every_fixture_and_the_silence_around_it() {
    for (name, bytes) in FIXTURES {
        let pcm = padded(bytes);
        let speech = decisions(&pcm);
        let voiced = speech.iter().filter(|&&s| s).count() * FRAME_MS as usize;
        let total = speech.len() * FRAME_MS as usize;
        // espeak-ng speaks most of the clip (short pauses between phrases).
        assert!(
            voiced * 2 > total - 1_000,
            "{name}: {voiced} ms voiced of {total} ms"
        );
        let onset = speech.iter().position(|&s| s).unwrap() * FRAME_MS as usize;
        assert!(
            (500..800).contains(&onset),
            "{name}: speech found at {onset} ms"
        );
        let last = speech.iter().rposition(|&s| s).unwrap() * FRAME_MS as usize;
        assert!(
            last + 300 < total,
            "{name}: still speech at {last} ms of {total}"
        );
        assert!(
            !speech[speech.len() - 5..].iter().any(|&s| s),
            "{name}: ends in speech"
        );
    }
}

#[test]
fn finds_the_speech_through_the_phone_path() {
    // 16 kHz → 8 kHz → μ-law → back, as a Twilio caller's audio arrives.
    for (name, bytes) in FIXTURES {
        let pcm = padded(bytes);
        let phone = resample(&pcm, 8_000).unwrap();
        let phone = Pcm::new(8_000, ulaw_decode(&ulaw_encode(&phone.samples)));
        let at_16k = decisions(&pcm);
        let at_8k = decisions(&phone);
        let agree = at_16k.iter().zip(&at_8k).filter(|(a, b)| a == b).count();
        assert!(
            agree * 10 >= at_16k.len() * 8,
            "{name}: 8 kHz agrees on {agree} of {} frames",
            at_16k.len()
        );
        assert!(
            at_8k.iter().filter(|&&s| s).count() * 3 > at_8k.len(),
            "{name}: too little speech at 8 kHz"
        );
    }
}

#[test]
fn silence_and_low_noise_are_never_speech() {
    for rate in [8_000, 16_000] {
        let seconds = rate as usize * 3;
        let silence = Pcm::new(rate, vec![0; seconds]);
        assert!(!decisions(&silence).contains(&true), "{rate} Hz silence");
        for (level, seed) in [(-70.0, 1), (-60.0, 2), (-55.0, 3)] {
            let hiss = Pcm::new(rate, noise(seconds, level, seed));
            let speech = decisions(&hiss);
            assert!(!speech.contains(&true), "{rate} Hz noise at {level} dBFS");
        }
    }
}

#[test]
fn hangover_bridges_short_gaps_but_not_a_pause() {
    // The fixture without espeak-ng's own silence at either end.
    let samples = read_wav(FIXTURES[2].1).unwrap().samples;
    let first = samples.iter().position(|s| s.abs() > 300).unwrap();
    let last = samples.iter().rposition(|s| s.abs() > 300).unwrap();
    let speech = samples[first..=last].to_vec();
    let gap = |ms: u32| vec![0; samples_in(16_000, ms)];
    let stretches = |samples: Vec<i16>| {
        let flags = decisions(&Pcm::new(16_000, samples));
        flags.windows(2).filter(|w| !w[0] && w[1]).count()
    };
    // The fixture alone is `once` stretches of speech (its comma is a pause).
    let once = stretches([gap(300), speech.clone(), gap(500)].concat());
    assert!(once >= 1);
    // Twice with a 60 ms gap between: the gap is bridged, the two join.
    let bridged = stretches([gap(300), speech.clone(), gap(60), speech.clone(), gap(500)].concat());
    assert_eq!(bridged, 2 * once - 1, "a 60 ms gap split the speech");
    // Twice with a 600 ms pause between: two separate stretches each.
    let paused = stretches([gap(300), speech.clone(), gap(600), speech, gap(500)].concat());
    assert_eq!(paused, 2 * once, "a 600 ms pause was bridged");
}

#[test]
fn takes_any_chunk_size_without_panicking() {
    let pcm = padded(FIXTURES[0].1);
    let mut framed = Vad::new(16_000, VadConfig::default()).unwrap();
    let mut odd = Vad::new(16_000, VadConfig::default()).unwrap();
    for frame in pcm.samples.chunks(320) {
        framed.push(frame);
    }
    for chunk in pcm.samples.chunks(77) {
        odd.push(chunk);
    }
    assert_eq!(framed.speaking(), odd.speaking());
    assert_eq!(odd.push(&[]).speech, odd.speaking());
    odd.push(&[i16::MAX; 10_000]);
    odd.push(&[i16::MIN; 1]);
    odd.reset();
    assert!(!odd.speaking());
    assert!(Vad::new(0, VadConfig::default()).is_err());
    assert_eq!(level_db(&[]), f32::NEG_INFINITY);
    assert!(level_db(&[0; 10]).is_infinite());
    assert!((level_db(&[i16::MIN; 10]) - 0.0).abs() < 0.01);
}
