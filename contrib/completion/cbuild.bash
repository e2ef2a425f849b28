# bash completion for cbuild(1); installed as
# share/bash-completion/completions/cbuild by `cmake --install`.

_cbuild_images() {
    # REPOSITORY:TAG of every tagged image in the store the command line names.
    local root=() i
    for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
        [[ ${COMP_WORDS[i]} == --root ]] && root=(--root "${COMP_WORDS[i + 1]}")
    done
    cbuild images "${root[@]}" 2>/dev/null | awk 'NR > 1 && $1 != "<none>" && $2 != "<none>" {print $1 ":" $2}'
}

_cbuild() {
    local cur prev cmd cmd_i i
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    local commands="build images inspect history tag rmi prune fsck df push pull login logout parse graph version"
    local registry_opts="--tls-verify --cert-dir --creds --authfile --default-registry"
    local build_opts="--tag -t --file -f --build-arg --label --target --platform --root --format
        --compression --timestamp --output -o --iidfile --push --digestfile --cache-to --cache-from
        --no-cache --no-cache-filter --explain-cache --jobs --network --secret --pull $registry_opts
        --progress --quiet -q --help -h"

    cmd=
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        -*) ;;
        *)
            if [[ " $commands " == *" ${COMP_WORDS[i]} "* ]]; then
                cmd=${COMP_WORDS[i]} cmd_i=$i
                break
            fi
            ;;
        esac
    done

    # --pull=POLICY and --tls-verify=BOOL: readline splits the word at "="
    # (COMP_WORDS ... --pull = al), unless COMP_WORDBREAKS lacks it.
    local eq_opt= eq_cur= eq_pre=
    if [[ $cur == = ]]; then
        eq_opt=$prev
    elif [[ $prev == = ]] && ((COMP_CWORD >= 2)); then
        eq_opt=${COMP_WORDS[COMP_CWORD - 2]} eq_cur=$cur
    elif [[ $cur == --*=* ]]; then
        eq_opt=${cur%%=*} eq_cur=${cur#*=} eq_pre=$eq_opt=
    fi
    case $eq_opt in
    --pull) COMPREPLY=($(compgen -P "$eq_pre" -W "missing always never" -- "$eq_cur")); return ;;
    --tls-verify) COMPREPLY=($(compgen -P "$eq_pre" -W "false true" -- "$eq_cur")); return ;;
    esac

    # Values of options that take one.
    case $prev in
    --progress) COMPREPLY=($(compgen -W "auto tty plain json quiet" -- "$cur")); return ;;
    --compression) COMPREPLY=($(compgen -W "gzip zstd none" -- "$cur")); return ;;
    --network) COMPREPLY=($(compgen -W "host none private" -- "$cur")); return ;;
    --format)
        case $cmd in
        images | history | df) COMPREPLY=($(compgen -W "table json" -- "$cur")) ;;
        graph) COMPREPLY=($(compgen -W "dot svg" -- "$cur")) ;;
        *) COMPREPLY=($(compgen -W "oci docker" -- "$cur")) ;;
        esac
        return
        ;;
    --output | -o)
        if [[ $cmd == graph ]]; then
            COMPREPLY=($(compgen -f -- "$cur"))
        else
            COMPREPLY=($(compgen -W "type=oci,dest= type=oci-archive,dest= type=docker-archive,dest= type=local,dest=" -- "$cur"))
            compopt -o nospace 2>/dev/null
        fi
        return
        ;;
    --file | -f | --iidfile | --digestfile | --authfile) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --root | --cert-dir) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --tag | -t | --build-arg | --label | --target | --platform | --timestamp | --jobs | --secret | \
        --keep-storage | --filter | --cache-to | --cache-from | --creds | --default-registry | \
        --username | -u)
        return
        ;;
    esac

    local opts
    case $cmd in
    "" | build) opts=$build_opts ;;
    images) opts="--root --format --no-trunc --help -h" ;;
    inspect | tag | rmi) opts="--root --help -h" ;;
    history) opts="--root --format --no-trunc --help -h" ;;
    prune) opts="--all -a --keep-storage --filter --force -f --root --help -h" ;;
    fsck) opts="--repair --quiet -q --root --help -h" ;;
    df) opts="--root --format --help -h" ;;
    push) opts="--digestfile --jobs --quiet -q --root $registry_opts --help -h" ;;
    pull) opts="--platform --quiet -q --root $registry_opts --help -h" ;;
    login) opts="--username -u --password-stdin $registry_opts --help -h" ;;
    logout) opts="--authfile --help -h" ;;
    parse) opts="--file -f --dump --json --target --build-arg --platform --help -h" ;;
    graph) opts="--file -f --target --format --build-arg --root --output -o --help -h" ;;
    version) opts="--help -h" ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    case $cmd in
    "")
        # The command, or a build context: `cbuild .` builds.
        COMPREPLY=($(compgen -W "$commands" -- "$cur") $(compgen -d -- "$cur"))
        ;;
    build | parse | graph) COMPREPLY=($(compgen -d -- "$cur")) ;;
    images | inspect | history | tag | rmi) COMPREPLY=($(compgen -W "$(_cbuild_images)" -- "$cur")) ;;
    push)
        # IMAGE from the store; the destination (a registry reference) is free.
        local n=0
        for ((i = cmd_i + 1; i < COMP_CWORD; i++)); do
            case ${COMP_WORDS[i]} in
            --root | --digestfile | --jobs | --cert-dir | --creds | --authfile | --default-registry) ((i++)) ;;
            -* | =) ;;
            *) [[ ${COMP_WORDS[i - 1]} == = ]] || ((n++)) ;;
            esac
        done
        if ((n == 0)); then
            COMPREPLY=($(compgen -W "$(_cbuild_images)" -- "$cur"))
        fi
        ;;
    esac
}
complete -F _cbuild cbuild
