#!/usr/bin/env bash
# `make check` linter (after gofmt and go vet): staticcheck and deadcode on every module when they can be installed
# from the Go module proxy, `go mod tidy -diff` per module, plus bans that matter to this project, which are
# grep-based and always run:
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
DEADCODE_VERSION=${DEADCODE_VERSION:-latest}
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
# go_tool name package version: prints the path of the tool, installed from the Go module proxy when missing,
# or nothing (with a note) when it cannot be installed.
go_tool() {
	local name=$1 pkg=$2 version=$3 bin
	bin=$(command -v "$name" || true)
	[[ -z "$bin" && -x "$GOBIN_DIR/$name" ]] && bin=$GOBIN_DIR/$name
	if [[ -z "$bin" ]]; then
		echo "lint: installing $name@$version from the Go module proxy" >&2
		if GOFLAGS="" timeout 300 "$GO" install "$pkg@$version" >&2; then
			bin=$GOBIN_DIR/$name
		else
			echo "lint: $name could not be installed; what it finds was not checked" >&2
		fi
	fi
	echo "$bin"
}
STATICCHECK=$(go_tool staticcheck honnef.co/go/tools/cmd/staticcheck "$STATICCHECK_VERSION")
if [[ -n "$STATICCHECK" ]]; then
	for m in "${MODULES[@]}"; do
		[[ -f "$m/go.mod" ]] || continue
		# Paths relative to the repository, like the other messages.
		(cd "$m" && "$STATICCHECK" ./...) > >(sed "s|^|$m/|") || rc=1
	done
fi

# --- go mod tidy -----------------------------------------------------------------------------------------------
# Every module's go.mod/go.sum is what `go mod tidy` writes: direct requirements not marked // indirect, nothing
# missing, nothing unused. deploy/e2e (tests only) too.
mapfile -t TIDY_MODULES < <(printf '%s\n' "${MODULES[@]}" deploy/e2e | sort -u)
for m in "${TIDY_MODULES[@]}"; do
	[[ -f "$m/go.mod" ]] || continue
	if ! (cd "$m" && "$GO" mod tidy -diff >/dev/null 2>&1); then
		echo "lint: $m is not tidy (run: cd $m && go mod tidy)" >&2
		rc=1
	fi
done

# --- deadcode -------------------------------------------------------------------------------------------------
# Functions no binary reaches, from every main package of the workspace. Test-only packages (pkg/testenv and the
# *test packages beside what they double, e.g. pkg/rpc/rpctest) are meant to be reached from tests alone.
DEADCODE=$(go_tool deadcode golang.org/x/tools/cmd/deadcode "$DEADCODE_VERSION")
if [[ -n "$DEADCODE" ]]; then
	mains=()
	for m in "${MODULES[@]}"; do
		[[ -f "$m/go.mod" ]] && mains+=("./$m/...")
	done
	if ! dead=$("$DEADCODE" -filter 'github.com/trove-go/trove' "${mains[@]}" 2>&1); then
		printf 'lint: deadcode failed:\n%s\n' "$dead" >&2
		rc=1
	fi
	dead=$(grep -vE '^(pkg/testenv|pkg/[a-z]+/[a-z]+test)/' <<<"$dead" || true)
	if [[ -n "$dead" ]]; then
		printf 'lint: unreachable functions (remove them, or move what only tests use into tests):\n%s\n' "$dead" >&2
		rc=1
	fi
fi

# --- shell scripts ----------------------------------------------------------------------------------------------
if command -v shellcheck >/dev/null; then
	shellcheck -x -S warning deploy/*.sh || rc=1
else
	for f in deploy/*.sh; do bash -n "$f" || rc=1; done
fi

if ((rc == 0)); then
	echo "lint: ok (${#FILES[@]} Go files${STATICCHECK:+, staticcheck}${DEADCODE:+, deadcode}, tidy)" >&2
fi
exit $rc
