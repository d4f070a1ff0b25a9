#!/usr/bin/env bash
# TorchSharp 0.107 (LibTorch 2.10) needs libstdc++ with GLIBCXX_3.4.32 (GCC 13+). Debian 12 ships 3.4.30.
# Install libstdc++6 from Debian 13 (trixie) with a private sources list, so that every later apt install
# on this machine still resolves against the machine's own release. Does nothing when the symbol is there
# (and says so, unless --quiet).
set -euo pipefail
quiet=false
[ "${1:-}" = "--quiet" ] && quiet=true

have_glibcxx() {
  local lib
  for lib in /usr/lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib/aarch64-linux-gnu/libstdc++.so.6; do
    [ -e "$lib" ] && grep -qa 'GLIBCXX_3.4.32' "$lib" && return 0
  done
  return 1
}

if have_glibcxx; then
  $quiet || echo "libstdc++: GLIBCXX_3.4.32 present"
  exit 0
fi

echo "libstdc++: GLIBCXX_3.4.32 missing; installing libstdc++6 from Debian 13 (trixie)"
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
work=$(mktemp -d); chmod 755 "$work"
mkdir -p "$work/sources.list.d" "$work/lists/partial"
cat > "$work/sources.list.d/trixie.sources" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
apt_opts=(-o "Dir::Etc::SourceParts=$work/sources.list.d" -o "Dir::Etc::SourceList=/dev/null" -o "Dir::State::Lists=$work/lists")
$sudo_cmd apt-get "${apt_opts[@]}" update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get "${apt_opts[@]}" install -y -qq -t trixie libstdc++6 >/dev/null
rm -rf "$work"
have_glibcxx || { echo "libstdc++ install did not provide GLIBCXX_3.4.32" >&2; exit 1; }
echo "libstdc++: installed"
