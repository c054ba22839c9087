# Shared set-up of the peer-comparison scripts (sourced, not run).
#
#   peer_venv DIR MODULE[=PIP_PACKAGE] ...   creates the venv DIR (with $PYTHON, default python3)
#       if needed and pip-installs each package whose module does not import, so that scripts
#       sharing one venv (mri_recon_run.sh and mri_radial_run.sh) each get what they need
#   ensure_bart                              installs Debian's `bart` when it is not on PATH
#       (apt-get, with sudo when not root)

peer_venv() {
    local venv="$1"
    shift
    [ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
    local spec module package missing=()
    for spec in "$@"; do
        module="${spec%%=*}"
        package="${spec#*=}"
        "$venv/bin/python" -c "import $module" 2>/dev/null || missing+=("$package")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        "$venv/bin/pip" install --quiet "${missing[@]}"
    fi
}

ensure_bart() {
    command -v bart > /dev/null && return
    local sudo_cmd=""
    if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y bart
}
