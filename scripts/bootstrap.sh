# Sourced by run.sh and test.sh: the two tools the Makefile itself needs
# (make, and Node.js with npm for installing Deno and AssemblyScript) come
# from Debian's packages when missing. Everything else is `make setup`.
if ! command -v make >/dev/null || ! command -v npm >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: make and npm are missing and installing them needs root" >&2
    exit 3
  fi
  echo "bootstrap: installing make, nodejs and npm from Debian"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q make nodejs npm
fi
