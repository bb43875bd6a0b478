#!/usr/bin/env bash
# The dashboard's browser tests drive Debian's Chromium through chromedriver; install both
# when this machine lacks them (sourced by .ci/run).
if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  echo "== installing chromium and chromium-driver"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
fi
