# bash completion for privlinkctl. The commands and each command's options are read from
# privlinkctl's own --help, so completion follows the binary it completes.
_privlinkctl() {
  local cur=${COMP_WORDS[COMP_CWORD]} prog=${COMP_WORDS[0]}
  local -a words=()
  local i w
  # The command words typed so far (global options and their values skipped).
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    case $w in
      --server | --token-file | -o | --output) ((i++)) ;;
      -*) ;;
      *) words+=("$w") ;;
    esac
  done
  local commands
  commands=$("$prog" --help 2>/dev/null | sed -n 's/^  \([a-z]*\)\( [a-z]*\)\{0,1\}.*/\1\2/p' |
    sed 's/ [A-Z-].*//')
  if [[ $cur == -* ]]; then
    local help
    if ((${#words[@]} > 0)); then
      help=$("$prog" "${words[@]:0:2}" --help 2>/dev/null)
    fi
    COMPREPLY=($(compgen -W "--server --token-file --output --help
      $(grep -o -- '--[a-z-]*' <<<"$help" | sort -u)" -- "$cur"))
    return
  fi
  case ${COMP_WORDS[COMP_CWORD - 1]} in
    -o | --output) COMPREPLY=($(compgen -W "table json" -- "$cur")); return ;;
    --server | --token-file | -f | --file | -w) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  case ${#words[@]} in
    0) COMPREPLY=($(compgen -W "$(cut -d' ' -f1 <<<"$commands" | sort -u)" -- "$cur")) ;;
    1) COMPREPLY=($(compgen -W "$(awk -v g="${words[0]}" '$1 == g && NF > 1 { print $2 }' \
      <<<"$commands")" -- "$cur")) ;;
  esac
}
complete -F _privlinkctl privlinkctl
