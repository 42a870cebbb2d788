#!/usr/bin/env bash
# `make check` linter (after gofmt and go vet): staticcheck on every module when it can be installed from the Go
# module proxy, plus bans that matter to this project, which are grep-based and always run:
#   - http.DefaultServeMux and what uses it (http.Handle/HandleFunc, ListenAndServe(…, nil)): global state
#     any imported package can register handlers on;
#   - fmt.Print* in non-main packages: output goes through logrus (one line per event, no secrets).
# Exit status 1 when anything is found. Does not need root. MODULES overrides the module list.
set -Eeuo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export PATH="/usr/local/go/bin:$PATH"
GO=${GO:-go}
read -r -a MODULES <<<"${MODULES:-pkg db services/api services/taskmanager services/conductor services/guestagent}"
STATICCHECK_VERSION=${STATICCHECK_VERSION:-latest}
rc=0

# --- bans ---------------------------------------------------------------------------------------------------
# go_files: tracked and untracked (not ignored) Go files of the modules, without vendored/testdata code.
go_files() {
	git ls-files --cached --others --exclude-standard -- "${MODULES[@]/%//*.go}" 2>/dev/null |
		grep -v -e '/testdata/' -e '/vendor/' || true
}
mapfile -t FILES < <(go_files)

ban() { # description regex files...
	local what=$1 re=$2
	shift 2
	(($#)) || return 0
	local hits
	hits=$(grep -nE "$re" "$@" /dev/null | grep -vE '//.*nolint:lint-sh' || true)
	if [[ -n "$hits" ]]; then
		printf 'lint: %s:\n%s\n' "$what" "$hits" >&2
		rc=1
	fi
}

ban "http.DefaultServeMux is banned (build an http.ServeMux and pass it explicitly)" \
	'http\.(DefaultServeMux|Handle\(|HandleFunc\()|http\.ListenAndServe(TLS)?\(.*,[[:space:]]*nil\)' "${FILES[@]}"

nonmain=()
for f in "${FILES[@]}"; do
	[[ $f == *_test.go ]] && continue
	grep -qE '^package main$' "$f" || nonmain+=("$f")
done
ban "fmt.Print* in a non-main package (log with logrus, or return the text)" '\bfmt\.Print(f|ln)?\(' "${nonmain[@]}"

# --- staticcheck ----------------------------------------------------------------------------------------------
GOBIN_DIR=$($GO env GOBIN)
[[ -n "$GOBIN_DIR" ]] || GOBIN_DIR="$($GO env GOPATH)/bin"
STATICCHECK=$(command -v staticcheck || true)
[[ -z "$STATICCHECK" && -x "$GOBIN_DIR/staticcheck" ]] && STATICCHECK=$GOBIN_DIR/staticcheck
if [[ -z "$STATICCHECK" ]]; then
	echo "lint: installing staticcheck@$STATICCHECK_VERSION from the Go module proxy" >&2
	if GOFLAGS="" timeout 300 "$GO" install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" >&2; then
		STATICCHECK=$GOBIN_DIR/staticcheck
	else
		echo "lint: staticcheck could not be installed; only the bans above were checked" >&2
	fi
fi
if [[ -n "$STATICCHECK" ]]; then
	for m in "${MODULES[@]}"; do
		[[ -f "$m/go.mod" ]] || continue
		# Paths relative to the repository, like the other messages.
		(cd "$m" && "$STATICCHECK" ./...) > >(sed "s|^|$m/|") || rc=1
	done
fi

# --- shell scripts ----------------------------------------------------------------------------------------------
if command -v shellcheck >/dev/null; then
	shellcheck -x -S warning deploy/*.sh || rc=1
else
	for f in deploy/*.sh; do bash -n "$f" || rc=1; done
fi

if ((rc == 0)); then
	echo "lint: ok (${#FILES[@]} Go files${STATICCHECK:+, staticcheck})" >&2
fi
exit $rc
