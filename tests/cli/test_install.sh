#!/usr/bin/env bash
# What `cmake --install` puts in place: the program, the library, the man pages, the udev rule
# and the bash completion, which completes dfu-mgr's commands and a command's options.
. "$(dirname "$0")/lib.sh"
: "${DFUMGR_BUILD_DIR:?build directory}"
P="$T/prefix"
cmake --install "$DFUMGR_BUILD_DIR" --prefix "$P" >"$T/install.log" 2>&1
expect_true "cmake --install succeeds" test $? -eq 0
expect_true "the program is installed" test -x "$P/bin/dfu-mgr"
expect_true "dfu-mgr(1) is installed" test -f "$P/share/man/man1/dfu-mgr.1"
expect_true "dfu-mgr-manifest(5) is installed" test -f "$P/share/man/man5/dfu-mgr-manifest.5"
C="$P/share/bash-completion/completions/dfu-mgr"
expect_true "the bash completion is installed" test -f "$C"
complete_words() { # complete_words WORD... : what the completion offers for the last word
	bash -c '. /usr/share/bash-completion/bash_completion; . "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_dfu_mgr dfu-mgr "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}"' _ "$C" "$@" 2>/dev/null | sort | tr '\n' ' '
}
expect_true "commands: 'dfu-mgr up' completes to update upload" test "$(complete_words dfu-mgr up)" = "update upload "
expect_true "options: 'dfu-mgr update --allow-d' completes to --allow-downgrade" test "$(complete_words dfu-mgr update --allow-d)" = "--allow-downgrade "
expect_true "alts: 'dfu-mgr download -a image-' completes" test "$(complete_words dfu-mgr download -a image-)" = "image-0 image-1 "
expect_true "the daemon's requests: 'dfu-mgr daemon p' completes to pause" test "$(complete_words dfu-mgr daemon p)" = "pause "
expect_true "  and 'dfu-mgr daemon update --w' to --wait" test "$(complete_words dfu-mgr daemon update --w)" = "--wait "
expect_true "'dfu-mgr hist' completes to history" test "$(complete_words dfu-mgr hist)" = "history "
man -l "$P/share/man/man1/dfu-mgr.1" >/dev/null 2>"$T/man.err"
expect_true "the man page formats without warnings" test ! -s "$T/man.err"
finish
