use super::*;

/// A sine of `freq` Hz at `rate`, `len` samples, amplitude `amp`.
pub(crate) fn sine(rate: u32, freq: f64, amp: f64, len: usize) -> Vec<i16> {
    (0..len)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            (amp * (2.0 * std::f64::consts::PI * freq * t).sin()).round() as i16
        })
        .collect()
}

/// Cuts `samples` into chunks of the given sizes, cycling through them.
fn chunks<'a>(samples: &'a [i16], sizes: &[usize]) -> Vec<&'a [i16]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while start < samples.len() {
        let end = (start + sizes[i % sizes.len()]).min(samples.len());
        out.push(&samples[start..end]);
        start = end;
        i += 1;
    }
    out
}

#[test]
fn ulaw_round_trip_stays_within_the_g711_quantisation_step() {
    // G.711 μ-law keeps about 13 bits of a 16-bit sample: the error grows
    // with the magnitude (logarithmic segments), under 1/32 of it plus the
    // smallest step.
    for x in (i16::MIN..=i16::MAX).step_by(7) {
        let back = ulaw_decode(&ulaw_encode(&[x]))[0];
        let error = (i32::from(back) - i32::from(x)).abs();
        let bound = i32::from(x).abs() / 32 + 33;
        assert!(
            error <= bound,
            "{x} came back as {back} (error {error} > {bound})"
        );
    }
    assert_eq!(ulaw_encode(&[0]), vec![ULAW_SILENCE]);
    assert_eq!(ulaw_decode(&[ULAW_SILENCE]), vec![0]);
    assert!(ulaw_encode(&[]).is_empty() && ulaw_decode(&[]).is_empty());
}

#[test]
fn twilio_payloads_round_trip_and_garbage_is_an_error() {
    let frame: Vec<u8> = (0..160).map(|i| (i * 7 % 256) as u8).collect();
    let payload = encode_payload(&frame);
    assert_eq!(decode_payload(&payload), Ok(frame));
    assert_eq!(decode_payload(""), Ok(Vec::new()));
    assert_eq!(decode_payload("not base64!"), Err(AudioError::Payload));
    assert_eq!(decode_payload("QUJD="), Err(AudioError::Payload));
}

#[test]
fn resampled_lengths_follow_the_ratio_between_every_pipeline_rate() {
    let rates = [8_000, 16_000, 22_050, 24_000];
    for from in rates {
        for to in rates {
            for len in [0, 1, 159, 160, 1_234, 16_000] {
                let input = sine(from, 300.0, 8_000.0, len);
                let out = resample(&Pcm::new(from, input), to).unwrap();
                let expected = (len as u64 * u64::from(to) + u64::from(from) / 2) / u64::from(from);
                assert_eq!(
                    out.samples.len() as u64,
                    expected,
                    "{len} samples {from} -> {to}"
                );
                assert_eq!(out.rate, to);
            }
        }
    }
}

#[test]
fn streaming_in_any_chunk_sizes_gives_the_same_audio_as_one_call() {
    let input = sine(8_000, 440.0, 10_000.0, 8_000);
    let whole = resample(&Pcm::new(8_000, input.clone()), 16_000)
        .unwrap()
        .samples;
    for sizes in [&[1usize][..], &[7, 160, 333], &[160], &[4_000, 1]] {
        let mut resampler = Resampler::new(8_000, 16_000).unwrap();
        let mut streamed = Vec::new();
        for chunk in chunks(&input, sizes) {
            streamed.extend(resampler.push(chunk));
        }
        streamed.extend(resampler.flush());
        assert_eq!(streamed, whole, "chunk sizes {sizes:?}");
    }
}

#[test]
fn resampling_is_continuous_across_chunk_borders_and_lines_up_in_time() {
    // A 440 Hz tone through the phone-to-STT path in 20 ms frames must come
    // out as the same tone at the new rate: no click at any frame border,
    // no delay (the filter's start-up delay is trimmed).
    for (from, to) in [
        (8_000, 16_000),
        (16_000, 8_000),
        (24_000, 16_000),
        (16_000, 22_050),
        (22_050, 16_000),
        (24_000, 8_000),
        (22_050, 8_000),
    ] {
        let input = sine(from, 440.0, 12_000.0, from as usize);
        let mut resampler = Resampler::new(from, to).unwrap();
        let mut out = Vec::new();
        for frame in input.chunks(samples_in(from, FRAME_MS)) {
            out.extend(resampler.push(frame));
        }
        out.extend(resampler.flush());
        let ideal = sine(to, 440.0, 12_000.0, out.len());
        // Skip the first and last 10 ms, where the filter sees the clip's edges.
        let edge = samples_in(to, 10);
        let worst = out[edge..out.len() - edge]
            .iter()
            .zip(&ideal[edge..])
            .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
            .max()
            .unwrap();
        assert!(
            worst < 40,
            "{from} -> {to}: off the ideal tone by up to {worst}"
        );
        let ideal_step = ideal
            .windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap();
        let step = out[edge..out.len() - edge]
            .windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap();
        assert!(
            step <= ideal_step + 40,
            "{from} -> {to}: a jump of {step} (tone steps {ideal_step})"
        );
    }
}

#[test]
fn resampler_refuses_impossible_rates_and_takes_odd_input() {
    assert!(matches!(
        Resampler::new(0, 8_000),
        Err(AudioError::Rate { .. })
    ));
    assert!(matches!(
        Resampler::new(8_000, 0),
        Err(AudioError::Rate { .. })
    ));
    assert!(matches!(
        Resampler::new(8_000, 10_000_000),
        Err(AudioError::Rate { .. })
    ));
    let mut resampler = Resampler::new(8_000, 16_000).unwrap();
    assert!(resampler.push(&[]).is_empty());
    assert!(resampler.flush().is_empty());
    // Full-scale square wave: the filter overshoots, the output clips, never wraps.
    let square: Vec<i16> = (0..8_000)
        .map(|i| if i / 20 % 2 == 0 { i16::MAX } else { i16::MIN })
        .collect();
    let out = resample(&Pcm::new(8_000, square), 16_000).unwrap();
    assert_eq!(out.samples.len(), 16_000);
    // Equal rates pass through untouched.
    let same = resample(&Pcm::new(16_000, vec![1, -2, 3]), 16_000).unwrap();
    assert_eq!(same.samples, vec![1, -2, 3]);
}

#[test]
fn wav_round_trips_and_reads_the_fixtures() {
    let pcm = Pcm::new(8_000, sine(8_000, 300.0, 5_000.0, 801));
    let bytes = write_wav(&pcm).unwrap();
    assert_eq!(read_wav(&bytes).unwrap(), pcm);
    let empty = write_wav(&Pcm::new(16_000, Vec::new())).unwrap();
    assert_eq!(read_wav(&empty).unwrap(), Pcm::new(16_000, Vec::new()));

    let fixture = read_wav(include_bytes!(
        "../../../../tests/fixtures/speech/audio/book-a-table.wav"
    ))
    .unwrap();
    assert_eq!(fixture.rate, 16_000);
    assert!(
        (2_500..4_000).contains(&fixture.duration_ms()),
        "{}",
        fixture.duration_ms()
    );
}

/// A WAV writer into memory.
type MemoryWav<'a> = hound::WavWriter<&'a mut std::io::Cursor<Vec<u8>>>;

#[test]
fn wav_reader_downmixes_and_converts_other_formats() {
    let write = |spec: hound::WavSpec, f: &dyn Fn(&mut MemoryWav)| {
        let mut bytes = std::io::Cursor::new(Vec::new());
        let mut writer = hound::WavWriter::new(&mut bytes, spec).unwrap();
        f(&mut writer);
        writer.finalize().unwrap();
        bytes.into_inner()
    };
    let stereo = hound::WavSpec {
        channels: 2,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let bytes = write(stereo, &|w| {
        for (l, r) in [(1000i16, 3000i16), (-4000, 0)] {
            w.write_sample(l).unwrap();
            w.write_sample(r).unwrap();
        }
    });
    assert_eq!(
        read_wav(&bytes).unwrap(),
        Pcm::new(16_000, vec![2000, -2000])
    );

    let float = hound::WavSpec {
        channels: 1,
        sample_rate: 24_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let bytes = write(float, &|w| {
        for s in [0.5f32, -1.0, 2.0] {
            w.write_sample(s).unwrap();
        }
    });
    assert_eq!(
        read_wav(&bytes).unwrap(),
        Pcm::new(24_000, vec![16384, -32768, 32767])
    );

    let eight = hound::WavSpec {
        channels: 1,
        sample_rate: 8_000,
        bits_per_sample: 8,
        sample_format: hound::SampleFormat::Int,
    };
    let bytes = write(eight, &|w| {
        for s in [64i8, -128] {
            w.write_sample(s).unwrap();
        }
    });
    assert_eq!(
        read_wav(&bytes).unwrap(),
        Pcm::new(8_000, vec![16384, -32768])
    );
}

#[test]
fn wav_reader_refuses_garbage_without_panicking() {
    for bytes in [
        &b""[..],
        b"RIFF",
        b"not a wav file at all, just text",
        &[0xFF; 64],
    ] {
        assert!(
            matches!(read_wav(bytes), Err(AudioError::Wav(_))),
            "{bytes:?}"
        );
    }
    // A header that promises more data than there is.
    let mut cut = write_wav(&Pcm::new(8_000, vec![1; 100])).unwrap();
    cut.truncate(cut.len() - 51);
    assert!(matches!(read_wav(&cut), Err(AudioError::Wav(_))));
}

#[test]
fn framer_cuts_any_chunk_stream_into_exact_frames() {
    let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let mut framer = Framer::new(160);
    let mut frames = Vec::new();
    let mut start = 0;
    for size in [1usize, 159, 161, 0, 320, 7, 3_000].iter().cycle() {
        if start >= bytes.len() {
            break;
        }
        let end = (start + size).min(bytes.len());
        frames.extend(framer.push(&bytes[start..end]));
        start = end;
    }
    assert!(frames.iter().all(|f| f.len() == 160));
    assert_eq!(frames.len(), 10_000 / 160);
    let last = framer.flush(ULAW_SILENCE).unwrap();
    assert_eq!(last.len(), 160);
    assert!(last[10_000 % 160..].iter().all(|&b| b == ULAW_SILENCE));
    let joined: Vec<u8> = frames.into_iter().chain([last]).flatten().collect();
    assert_eq!(&joined[..10_000], &bytes[..]);
    assert_eq!(framer.flush(ULAW_SILENCE), None);

    let mut framer = Framer::<i16>::new(0);
    assert_eq!(framer.frame_len(), 1);
    assert_eq!(framer.push(&[5, 6]), vec![vec![5], vec![6]]);
    let mut framer = Framer::<u8>::new(160);
    framer.push(&[1; 100]);
    framer.clear();
    assert_eq!(framer.flush(ULAW_SILENCE), None);
}

#[test]
fn mixing_two_sides_saturates_and_keeps_the_longer_side() {
    assert_eq!(mix(&[1, 2, 3], &[10, 20]), vec![11, 22, 3]);
    assert_eq!(
        mix(&[i16::MAX, i16::MIN], &[100, -100]),
        vec![i16::MAX, i16::MIN]
    );
    assert!(mix(&[], &[]).is_empty());
    assert_eq!(samples_in(PHONE_RATE, FRAME_MS), 160);
    assert_eq!(samples_in(22_050, FRAME_MS), 441);
}

#[test]
fn two_sides_interleave_and_mix_down_as_mixing_would() {
    let (caller, agent) = ([1, 2, 3], [10, 20]);
    let stereo = interleave(&caller, &agent);
    assert_eq!(stereo, vec![1, 10, 2, 20, 3, 0]);
    assert_eq!(downmix(&stereo), mix(&caller, &agent));
    assert_eq!(downmix(&[i16::MAX, 5, 7]), vec![i16::MAX]);
    assert!(interleave(&[], &[]).is_empty());
}
