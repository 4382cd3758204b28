#!/usr/bin/env bash
# Installs everything ccrfs and its tests need on Debian 12, as root. Does nothing when all
# of it is present already.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang-format
  libfuse3-dev fuse3 libssl-dev libcurl4-openssl-dev libjson-c-dev libattr1-dev
  libcmocka-dev libmicrohttpd-dev libsqlite3-dev libcbor-dev
  # used by the tests: real programs reading the mount, and servers on loopback
  attr openssl curl ca-certificates python3 python3-cryptography sqlite3 fio nginx-light xxd procps psmisc
  # the AWS CLI (and botocore) as an independent S3 client and signature check
  awscli
  # CBOR for Python: with python3-cryptography, an independent COSE_Sign1 check
  python3-cbor2
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}; run this script as root" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Azurite (the Azure Storage emulator) and s3rver (an S3 server) for the az:// and s3:// store
# tests: the machine's node when it has one, else Debian's nodejs and npm; installed only when
# missing.
if ! command -v azurite-blob >/dev/null 2>&1 || ! command -v s3rver >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: azurite or s3rver is missing; run this script as root" >&2
    exit 1
  fi
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  if ! command -v azurite-blob >/dev/null 2>&1; then
    echo "install-deps: installing azurite (npm)"
    npm install -g --no-fund --no-audit azurite@3.35.0 >/dev/null  # 3.35 runs on Debian 12's node 18; later ones want node 22
  fi
  if ! command -v s3rver >/dev/null 2>&1; then
    echo "install-deps: installing s3rver (npm)"
    npm install -g --no-fund --no-audit s3rver@3.7.1 >/dev/null
  fi
fi
