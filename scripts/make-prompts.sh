#!/usr/bin/env bash
# Generates the default Brazilian Portuguese prompts into prompts/pt-BR/ as 8 kHz mono
# 16-bit PCM WAV (what atende plays without conversion):
#   welcome.wav    spoken welcome (espeak-ng, voice pt-br)
#   hold-music.wav ~24 s synthesized arpeggio over a soft bass line (sox), faded at both ends so
#                  the loop point is smooth
# Everything is synthesized here: no recorded or copyrighted audio.
# Needs: espeak-ng, sox   (Debian/Ubuntu: apt-get install -y espeak-ng sox)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/prompts/pt-BR}"
mkdir -p "$out"
for tool in espeak-ng sox; do
    command -v "$tool" >/dev/null || { echo "make-prompts: $tool not found" >&2; exit 1; }
done
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Final format for every prompt.
to_8k() { sox "$1" -r 8000 -c 1 -b 16 -e signed-integer "$2" "${@:3}"; }

# --- welcome -------------------------------------------------------------------------
welcome="Bem-vindo à central de atendimento do Instituto. Esta ligação é gravada. \
Aguarde, você será atendido por um de nossos atendentes."
espeak-ng -v pt-br -s 145 -p 45 -w "$tmp/welcome-raw.wav" "$welcome"
# Leading silence so the first syllable survives media set-up; telephone band; -3 dBFS peak.
# (Hold music is normalized lower, -9 dBFS peak, so it sits under speech loudness.)
to_8k "$tmp/welcome-raw.wav" "$out/welcome.wav" \
    highpass 200 lowpass 3400 gain -n -3 pad 0.3 0.5

# --- hold music ----------------------------------------------------------------------
# Chords (3 s each) as semitone offsets from A4 (sox "%n" notation): four chord tones for
# the arpeggio, then the bass root an octave below.
chords=(
    "-9 -5 -2 3 -21"     # C
    "-12 -9 -5 0 -24"    # Am
    "-16 -12 -9 -4 -28"  # F
    "-14 -10 -7 -2 -26"  # G
    "-9 -5 -2 3 -21"     # C
    "-12 -9 -5 0 -24"    # Am
    "-7 -4 0 5 -19"      # Dm
    "-14 -10 -7 -2 -26"  # G
)
pattern=(0 1 2 3 2 1 2 1)   # up and back down, eight notes per chord
rate=16000
n=0
for c in "${!chords[@]}"; do
    read -r -a tones <<<"${chords[$c]}"
    for i in "${pattern[@]}"; do
        sox -n -r $rate -c 1 -b 16 "$tmp/arp-$(printf %04d $n).wav" \
            synth 0.375 pluck "%${tones[$i]}" vol 0.45 fade 0 0.375 0.12
        n=$((n + 1))
    done
    sox -n -r $rate -c 1 -b 16 "$tmp/bass-$(printf %02d "$c").wav" \
        synth 3 sine "%${tones[4]}" vol 0.3 fade 0.4 3 0.8
done
sox "$tmp"/arp-*.wav "$tmp/arp.wav"
sox "$tmp"/bass-*.wav "$tmp/bass.wav"
sox -m "$tmp/arp.wav" "$tmp/bass.wav" "$tmp/mix.wav"
to_8k "$tmp/mix.wav" "$out/hold-music.wav" \
    reverb 25 50 60 lowpass 3400 gain -n -9 fade t 0.5 24 1.5

for f in "$out"/welcome.wav "$out"/hold-music.wav; do
    printf '%s: %s\n' "$f" "$(soxi -r "$f") Hz, $(soxi -c "$f") ch, $(soxi -b "$f") bit, $(soxi -d "$f")"
done
