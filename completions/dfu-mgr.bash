# bash completion for dfu-mgr(1)                                          -*- shell-script -*-
# Installed by `cmake --install` into share/bash-completion/completions/dfu-mgr.

_dfu_mgr()
{
	local cur prev words cword
	_init_completion || return

	local commands="inspect pack sign verify-bundle keygen list update provision verify commit
		download upload detach reboot status daemon history"
	local target="-d --device -S --serial -p --path"
	local keys="-k --key -K --keys --allow-unsigned"
	local cmd="" i
	for ((i = 1; i < cword; i++)); do
		case "${words[i]}" in
		-*) ;;
		*) cmd=${words[i]}; break ;;
		esac
	done

	case "$prev" in
	-k | --key | -o | --output | --internal | --qspi | -f | --file | -s | --socket | --serials | \
		-r | --report | -l | --log)
		_filedir
		return
		;;
	-K | --keys)
		_filedir -d
		return
		;;
	-S | --serial)
		# the serial numbers of the boards present (dfu-mgr list reads no strings twice)
		COMPREPLY=($(compgen -W "$(dfu-mgr list --no-info 2>/dev/null | awk '/^[^ ]/ { print $1 }')" -- "$cur"))
		return
		;;
	-p | --path)
		COMPREPLY=($(compgen -W "$(dfu-mgr list --no-info 2>/dev/null | sed -n 's/.* path \([^ ]*\) .*/\1/p')" -- "$cur"))
		return
		;;
	-a | --alt)
		COMPREPLY=($(compgen -W "image-0 image-1 0 1" -- "$cur"))
		return
		;;
	-d | --device | --version | --retries | --timeout | --transfer-size | -t | -n | --max | \
		--wait | -w | --jobs | --product | --security-counter | --slot-size | --slot-size1 | --align)
		return
		;;
	esac

	if [ -z "$cmd" ]; then
		COMPREPLY=($(compgen -W "$commands -h --help --version -v --verbose" -- "$cur"))
		return
	fi
	local opts
	case "$cmd" in
	inspect) opts="$keys --slot-size --align -j --json" ;;
	pack) opts="--version -k --key --product --security-counter --internal --qspi -o --output --no-dependency --slot-size1 -j --json" ;;
	sign) opts="-k --key" ;;
	verify-bundle) opts="$keys -j --json" ;;
	keygen) opts="-o --output" ;;
	list) opts="$target -w --wait --no-info -j --json" ;;
	update) opts="$target $keys --allow-downgrade --no-verify --permanent --retries --timeout --transfer-size --no-skip -q --quiet -j --json" ;;
	provision) opts="-a --all -S --serial --serials -w --wait -t --timeout --jobs -f --force -r --report -l --log $keys --allow-downgrade --retries --transfer-size -q --quiet -j --json" ;;
	verify | commit) opts="$target $keys --permanent -j --json" ;;
	download | upload) opts="$target -a --alt -t --transfer-size -n --max -q --quiet" ;;
	detach | reboot) opts="$target --timeout" ;;
	status) opts="-s --socket --json" ;;
	history) opts="-f --file -S --serial -n --limit --json" ;;
	daemon)
		# the request, then its options; update takes a board's serial
		local req="" j
		for ((j = i + 1; j < cword; j++)); do
			case "${words[j]}" in -*) ;; *) req=${words[j]}; break ;; esac
		done
		if [ -z "$req" ] && [[ "$cur" != -* ]]; then
			COMPREPLY=($(compgen -W "status boards releases history update pause resume reload subscribe" -- "$cur"))
			return
		fi
		opts="-s --socket --json -w --wait -S --serial -n --limit -c --count"
		;;
	esac
	if [[ "$cur" == -* ]]; then
		COMPREPLY=($(compgen -W "$opts -h --help" -- "$cur"))
	else
		_filedir
	fi
} &&
	complete -F _dfu_mgr dfu-mgr
