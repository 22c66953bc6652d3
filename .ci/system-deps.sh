#!/usr/bin/env bash
# Install the Debian packages Latent Instrument needs, when root and missing; otherwise say what to install.
set -euo pipefail
packages=(libportaudio2 libsndfile1 jackd2 fluidsynth fluid-soundfont-gm timgm6mb-soundfont)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A Debian python3 needs python3-venv for `python3 -m venv`; other Pythons (pyenv, ...) bring venv.
if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then missing+=(python3-venv); fi
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Not a Debian system: install the equivalents of: ${missing[*]}" >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  # jackd2 asks about real-time priority; answer no without a terminal.
  echo "jackd2 jackd/tweak_rt_limits boolean false" | debconf-set-selections
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "Missing Debian packages; please run:" >&2
  echo "  sudo apt-get install ${missing[*]}" >&2
fi
