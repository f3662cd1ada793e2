#compdef itwillsync

autoload -U is-at-least

_itwillsync() {
    typeset -A opt_args
    typeset -a _arguments_options
    local ret=1

    if is-at-least 5.2; then
        _arguments_options=(-s -S -C)
    else
        _arguments_options=(-s -C)
    fi

    local context curcontext="$curcontext" state line
    _arguments "${_arguments_options[@]}" : \
'-v[Print version (\`-v\`, as the original tool has it, or \`-V\`)]' \
'--version[Print version (\`-v\`, as the original tool has it, or \`-V\`)]' \
'-h[Print help]' \
'--help[Print help]' \
":: :_itwillsync_commands" \
"*::: :->itwillsync" \
&& ret=0
    case $state in
    (itwillsync)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:itwillsync-command-$line[1]:"
        case $line[1] in
            (new)
_arguments "${_arguments_options[@]}" : \
'--name=[Session name (default\: the program'\''s name)]:NAME:_default' \
'--cwd=[Working directory (default\: the current one)]:CWD:_files' \
'--port=[Phone port for this session (default\: the next free one)]:PORT:_default' \
'--on=[Start it on another machine (\`machine add\`); its program is found on that machine'\''s PATH and \`--cwd\` is a directory there (default\: its home)]:MACHINE:_default' \
'-d[Do not attach; print the session id]' \
'--detach[Do not attach; print the session id]' \
'(--tailscale --local)--localhost[Phones reach the session on 127.0.0.1 only]' \
'(--localhost --local)--tailscale[Phones reach the session on the Tailscale address]' \
'(--localhost --tailscale)--local[Phones reach the session on the LAN address]' \
'--no-qr[Do not print a QR code]' \
'-h[Print help]' \
'--help[Print help]' \
'*::command -- The program and its arguments:_default' \
&& ret=0
;;
(attach)
_arguments "${_arguments_options[@]}" : \
'--read-only[Watch without typing or resizing]' \
'-h[Print help]' \
'--help[Print help]' \
'::target -- Session id, id prefix or name:_default' \
&& ret=0
;;
(ls)
_arguments "${_arguments_options[@]}" : \
'--json[One JSON array, for scripts]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(kill)
_arguments "${_arguments_options[@]}" : \
'-s+[Send this signal instead (name like TERM or number)]:SIGNAL:_default' \
'--signal=[Send this signal instead (name like TERM or number)]:SIGNAL:_default' \
'-h[Print help]' \
'--help[Print help]' \
':target -- Session id, id prefix or name:_default' \
&& ret=0
;;
(rename)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
':target -- Session id, id prefix or name:_default' \
':new_name -- The new name, unique among live sessions:_default' \
&& ret=0
;;
(url)
_arguments "${_arguments_options[@]}" : \
'--qr[Also print a QR code]' \
'--read-only[The read-only link\: it can watch but never type or resize]' \
'--rotate[Replace the link'\''s key first\: every client that used the old link is disconnected and the old link stops working]' \
'-h[Print help]' \
'--help[Print help]' \
':target -- Session id, id prefix or name:_default' \
&& ret=0
;;
(hub)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
":: :_itwillsync__subcmd__hub_commands" \
"*::: :->hub" \
&& ret=0

    case $state in
    (hub)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:itwillsync-hub-command-$line[1]:"
        case $line[1] in
            (info)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(stop)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(rotate)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_itwillsync__subcmd__hub__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:itwillsync-hub-help-command-$line[1]:"
        case $line[1] in
            (info)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(stop)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(rotate)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(setup)
_arguments "${_arguments_options[@]}" : \
'--mode=[The mode; without it, \`setup\` asks (on a terminal)]:MODE:((local\:"The LAN address"
tailscale\:"The Tailscale address"
localhost\:"127.0.0.1 only"))' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(server)
_arguments "${_arguments_options[@]}" : \
'--adopt=[Take over from a server that exec'\''d this binary with its state in descriptor FD (used by \`server upgrade\`)]:FD:_default' \
'--daemon[Report readiness on stdout, then detach stdio (used by auto-start)]' \
'--stay[Never exit when idle (as if \`idleShutdownSecs\` were 0)\: how a service runs it]' \
'-h[Print help]' \
'--help[Print help]' \
":: :_itwillsync__subcmd__server_commands" \
"*::: :->server" \
&& ret=0

    case $state in
    (server)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:itwillsync-server-command-$line[1]:"
        case $line[1] in
            (upgrade)
_arguments "${_arguments_options[@]}" : \
'--binary=[The new binary]:PATH:_files' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(check-state)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
':source -- Descriptor number or path:_default' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_itwillsync__subcmd__server__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:itwillsync-server-help-command-$line[1]:"
        case $line[1] in
            (upgrade)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(check-state)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(service)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
":: :_itwillsync__subcmd__service_commands" \
"*::: :->service" \
&& ret=0

    case $state in
    (service)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:itwillsync-service-command-$line[1]:"
        case $line[1] in
            (install)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(uninstall)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_itwillsync__subcmd__service__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:itwillsync-service-help-command-$line[1]:"
        case $line[1] in
            (install)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(uninstall)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(machine)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
":: :_itwillsync__subcmd__machine_commands" \
"*::: :->machine" \
&& ret=0

    case $state in
    (machine)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:itwillsync-machine-command-$line[1]:"
        case $line[1] in
            (add)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
':name -- A short name (letters, digits, `-_.`):_default' \
':dest -- Anything `ssh` accepts as a destination:_default' \
&& ret=0
;;
(ls)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(rm)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
':name -- Its name:_default' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_itwillsync__subcmd__machine__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:itwillsync-machine-help-command-$line[1]:"
        case $line[1] in
            (add)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(ls)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(rm)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(bridge)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(events)
_arguments "${_arguments_options[@]}" : \
'--machine=[Only this machine'\''s events (\`local\` for this one)]:MACHINE:_default' \
'--session=[Only this session'\''s events (id or name)]:SESSION:_default' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(wait)
_arguments "${_arguments_options[@]}" : \
'--for=[What to wait for]:WHAT:((exit\:"The session'\''s program exits"
attention\:"The program rings the bell or sends a notification"))' \
'--timeout=[Give up after this many seconds]:SECONDS:_default' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
':target -- Session id, id prefix or name:_default' \
&& ret=0
;;
(logs)
_arguments "${_arguments_options[@]}" : \
'(--all)--machine=[Another machine'\''s (\`machine add\`), through this machine'\''s server; \`local\` is this one (the default)]:MACHINE:_default' \
'-f[Keep printing what is added, as \`tail -f\` does]' \
'--follow[Keep printing what is added, as \`tail -f\` does]' \
'--all[Every machine'\''s log (this one'\''s and each one \`machine ls\` shows), each line after its machine'\''s name; with \`-f\`, interleaved as lines arrive]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(completions)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
':shell -- The shell:(bash elvish fish powershell zsh)' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_itwillsync__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:itwillsync-help-command-$line[1]:"
        case $line[1] in
            (new)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(attach)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(ls)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(kill)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(rename)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(url)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(hub)
_arguments "${_arguments_options[@]}" : \
":: :_itwillsync__subcmd__help__subcmd__hub_commands" \
"*::: :->hub" \
&& ret=0

    case $state in
    (hub)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:itwillsync-help-hub-command-$line[1]:"
        case $line[1] in
            (info)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(stop)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(rotate)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(setup)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(server)
_arguments "${_arguments_options[@]}" : \
":: :_itwillsync__subcmd__help__subcmd__server_commands" \
"*::: :->server" \
&& ret=0

    case $state in
    (server)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:itwillsync-help-server-command-$line[1]:"
        case $line[1] in
            (upgrade)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(check-state)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(service)
_arguments "${_arguments_options[@]}" : \
":: :_itwillsync__subcmd__help__subcmd__service_commands" \
"*::: :->service" \
&& ret=0

    case $state in
    (service)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:itwillsync-help-service-command-$line[1]:"
        case $line[1] in
            (install)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(uninstall)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(machine)
_arguments "${_arguments_options[@]}" : \
":: :_itwillsync__subcmd__help__subcmd__machine_commands" \
"*::: :->machine" \
&& ret=0

    case $state in
    (machine)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:itwillsync-help-machine-command-$line[1]:"
        case $line[1] in
            (add)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(ls)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(rm)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(bridge)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(events)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(wait)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(logs)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(completions)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
}

(( $+functions[_itwillsync_commands] )) ||
_itwillsync_commands() {
    local commands; commands=(
'new:Start a session (and the server if needed), print its phone link, attach' \
'attach:Attach this terminal to a session (default\: the most recently active)' \
'ls:List sessions' \
'kill:End a session'\''s program (hang up, then kill after a grace period)' \
'rename:Rename a session' \
'url:Print a session'\''s phone link (its key is in the \`#\` fragment)' \
'hub:The server\: info (the default), status, stop' \
'setup:Choose how phones reach this machine\: writes \`networkingMode\` to config.json' \
'server:Run the server in the foreground (normally started automatically), or upgrade the running one' \
'service:Run the server as a user service\: a systemd user unit (Linux) or a launchd agent (macOS)' \
'machine:Other machines, reached over ssh' \
'bridge:Join stdin/stdout to this machine'\''s server (starting it if needed); other machines run it over ssh' \
'events:Print lifecycle events as JSON lines, until the server stops' \
'wait:Wait until a session exits or needs attention\: exit 0 then, 1 on timeout' \
'logs:Print the server'\''s log' \
'completions:Print shell completions' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'itwillsync commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__attach_commands] )) ||
_itwillsync__subcmd__attach_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync attach commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__bridge_commands] )) ||
_itwillsync__subcmd__bridge_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync bridge commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__completions_commands] )) ||
_itwillsync__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync completions commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__events_commands] )) ||
_itwillsync__subcmd__events_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync events commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help_commands] )) ||
_itwillsync__subcmd__help_commands() {
    local commands; commands=(
'new:Start a session (and the server if needed), print its phone link, attach' \
'attach:Attach this terminal to a session (default\: the most recently active)' \
'ls:List sessions' \
'kill:End a session'\''s program (hang up, then kill after a grace period)' \
'rename:Rename a session' \
'url:Print a session'\''s phone link (its key is in the \`#\` fragment)' \
'hub:The server\: info (the default), status, stop' \
'setup:Choose how phones reach this machine\: writes \`networkingMode\` to config.json' \
'server:Run the server in the foreground (normally started automatically), or upgrade the running one' \
'service:Run the server as a user service\: a systemd user unit (Linux) or a launchd agent (macOS)' \
'machine:Other machines, reached over ssh' \
'bridge:Join stdin/stdout to this machine'\''s server (starting it if needed); other machines run it over ssh' \
'events:Print lifecycle events as JSON lines, until the server stops' \
'wait:Wait until a session exits or needs attention\: exit 0 then, 1 on timeout' \
'logs:Print the server'\''s log' \
'completions:Print shell completions' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'itwillsync help commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__attach_commands] )) ||
_itwillsync__subcmd__help__subcmd__attach_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help attach commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__bridge_commands] )) ||
_itwillsync__subcmd__help__subcmd__bridge_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help bridge commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__completions_commands] )) ||
_itwillsync__subcmd__help__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help completions commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__events_commands] )) ||
_itwillsync__subcmd__help__subcmd__events_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help events commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__help_commands] )) ||
_itwillsync__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help help commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__hub_commands] )) ||
_itwillsync__subcmd__help__subcmd__hub_commands() {
    local commands; commands=(
'info:The server'\''s details and sessions' \
'status:The session table' \
'stop:Stop the server and every session' \
'rotate:Replace the dashboard'\''s master key\: saved dashboard links stop working and open dashboard pages are disconnected' \
    )
    _describe -t commands 'itwillsync help hub commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__hub__subcmd__info_commands] )) ||
_itwillsync__subcmd__help__subcmd__hub__subcmd__info_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help hub info commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__hub__subcmd__rotate_commands] )) ||
_itwillsync__subcmd__help__subcmd__hub__subcmd__rotate_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help hub rotate commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__hub__subcmd__status_commands] )) ||
_itwillsync__subcmd__help__subcmd__hub__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help hub status commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__hub__subcmd__stop_commands] )) ||
_itwillsync__subcmd__help__subcmd__hub__subcmd__stop_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help hub stop commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__kill_commands] )) ||
_itwillsync__subcmd__help__subcmd__kill_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help kill commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__logs_commands] )) ||
_itwillsync__subcmd__help__subcmd__logs_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help logs commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__ls_commands] )) ||
_itwillsync__subcmd__help__subcmd__ls_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help ls commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__machine_commands] )) ||
_itwillsync__subcmd__help__subcmd__machine_commands() {
    local commands; commands=(
'add:Remember a machine\: NAME for commands, DEST for ssh (\`user@host\`, a \`~/.ssh/config\` alias...)' \
'ls:The machines, whether each answers, and its session count' \
'rm:Forget a machine' \
    )
    _describe -t commands 'itwillsync help machine commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__machine__subcmd__add_commands] )) ||
_itwillsync__subcmd__help__subcmd__machine__subcmd__add_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help machine add commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__machine__subcmd__ls_commands] )) ||
_itwillsync__subcmd__help__subcmd__machine__subcmd__ls_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help machine ls commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__machine__subcmd__rm_commands] )) ||
_itwillsync__subcmd__help__subcmd__machine__subcmd__rm_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help machine rm commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__new_commands] )) ||
_itwillsync__subcmd__help__subcmd__new_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help new commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__rename_commands] )) ||
_itwillsync__subcmd__help__subcmd__rename_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help rename commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__server_commands] )) ||
_itwillsync__subcmd__help__subcmd__server_commands() {
    local commands; commands=(
'upgrade:Move every session to a new binary (this one, as installed now, by default)\: the running server execs it under the same pid, and nothing is lost' \
'check-state:Check that this binary can read a hand-over state (a descriptor number or a file)\: exit 0, or one line saying why not' \
    )
    _describe -t commands 'itwillsync help server commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__server__subcmd__check-state_commands] )) ||
_itwillsync__subcmd__help__subcmd__server__subcmd__check-state_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help server check-state commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__server__subcmd__upgrade_commands] )) ||
_itwillsync__subcmd__help__subcmd__server__subcmd__upgrade_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help server upgrade commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__service_commands] )) ||
_itwillsync__subcmd__help__subcmd__service_commands() {
    local commands; commands=(
'install:Write the unit (or agent), enable it and start it' \
'uninstall:Stop it, disable it and remove the file' \
'status:Whether it is installed and running' \
    )
    _describe -t commands 'itwillsync help service commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__service__subcmd__install_commands] )) ||
_itwillsync__subcmd__help__subcmd__service__subcmd__install_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help service install commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__service__subcmd__status_commands] )) ||
_itwillsync__subcmd__help__subcmd__service__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help service status commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__service__subcmd__uninstall_commands] )) ||
_itwillsync__subcmd__help__subcmd__service__subcmd__uninstall_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help service uninstall commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__setup_commands] )) ||
_itwillsync__subcmd__help__subcmd__setup_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help setup commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__url_commands] )) ||
_itwillsync__subcmd__help__subcmd__url_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help url commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__help__subcmd__wait_commands] )) ||
_itwillsync__subcmd__help__subcmd__wait_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync help wait commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__hub_commands] )) ||
_itwillsync__subcmd__hub_commands() {
    local commands; commands=(
'info:The server'\''s details and sessions' \
'status:The session table' \
'stop:Stop the server and every session' \
'rotate:Replace the dashboard'\''s master key\: saved dashboard links stop working and open dashboard pages are disconnected' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'itwillsync hub commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__hub__subcmd__help_commands] )) ||
_itwillsync__subcmd__hub__subcmd__help_commands() {
    local commands; commands=(
'info:The server'\''s details and sessions' \
'status:The session table' \
'stop:Stop the server and every session' \
'rotate:Replace the dashboard'\''s master key\: saved dashboard links stop working and open dashboard pages are disconnected' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'itwillsync hub help commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__hub__subcmd__help__subcmd__help_commands] )) ||
_itwillsync__subcmd__hub__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync hub help help commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__hub__subcmd__help__subcmd__info_commands] )) ||
_itwillsync__subcmd__hub__subcmd__help__subcmd__info_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync hub help info commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__hub__subcmd__help__subcmd__rotate_commands] )) ||
_itwillsync__subcmd__hub__subcmd__help__subcmd__rotate_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync hub help rotate commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__hub__subcmd__help__subcmd__status_commands] )) ||
_itwillsync__subcmd__hub__subcmd__help__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync hub help status commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__hub__subcmd__help__subcmd__stop_commands] )) ||
_itwillsync__subcmd__hub__subcmd__help__subcmd__stop_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync hub help stop commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__hub__subcmd__info_commands] )) ||
_itwillsync__subcmd__hub__subcmd__info_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync hub info commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__hub__subcmd__rotate_commands] )) ||
_itwillsync__subcmd__hub__subcmd__rotate_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync hub rotate commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__hub__subcmd__status_commands] )) ||
_itwillsync__subcmd__hub__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync hub status commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__hub__subcmd__stop_commands] )) ||
_itwillsync__subcmd__hub__subcmd__stop_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync hub stop commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__kill_commands] )) ||
_itwillsync__subcmd__kill_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync kill commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__logs_commands] )) ||
_itwillsync__subcmd__logs_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync logs commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__ls_commands] )) ||
_itwillsync__subcmd__ls_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync ls commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__machine_commands] )) ||
_itwillsync__subcmd__machine_commands() {
    local commands; commands=(
'add:Remember a machine\: NAME for commands, DEST for ssh (\`user@host\`, a \`~/.ssh/config\` alias...)' \
'ls:The machines, whether each answers, and its session count' \
'rm:Forget a machine' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'itwillsync machine commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__machine__subcmd__add_commands] )) ||
_itwillsync__subcmd__machine__subcmd__add_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync machine add commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__machine__subcmd__help_commands] )) ||
_itwillsync__subcmd__machine__subcmd__help_commands() {
    local commands; commands=(
'add:Remember a machine\: NAME for commands, DEST for ssh (\`user@host\`, a \`~/.ssh/config\` alias...)' \
'ls:The machines, whether each answers, and its session count' \
'rm:Forget a machine' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'itwillsync machine help commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__machine__subcmd__help__subcmd__add_commands] )) ||
_itwillsync__subcmd__machine__subcmd__help__subcmd__add_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync machine help add commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__machine__subcmd__help__subcmd__help_commands] )) ||
_itwillsync__subcmd__machine__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync machine help help commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__machine__subcmd__help__subcmd__ls_commands] )) ||
_itwillsync__subcmd__machine__subcmd__help__subcmd__ls_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync machine help ls commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__machine__subcmd__help__subcmd__rm_commands] )) ||
_itwillsync__subcmd__machine__subcmd__help__subcmd__rm_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync machine help rm commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__machine__subcmd__ls_commands] )) ||
_itwillsync__subcmd__machine__subcmd__ls_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync machine ls commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__machine__subcmd__rm_commands] )) ||
_itwillsync__subcmd__machine__subcmd__rm_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync machine rm commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__new_commands] )) ||
_itwillsync__subcmd__new_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync new commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__rename_commands] )) ||
_itwillsync__subcmd__rename_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync rename commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__server_commands] )) ||
_itwillsync__subcmd__server_commands() {
    local commands; commands=(
'upgrade:Move every session to a new binary (this one, as installed now, by default)\: the running server execs it under the same pid, and nothing is lost' \
'check-state:Check that this binary can read a hand-over state (a descriptor number or a file)\: exit 0, or one line saying why not' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'itwillsync server commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__server__subcmd__check-state_commands] )) ||
_itwillsync__subcmd__server__subcmd__check-state_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync server check-state commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__server__subcmd__help_commands] )) ||
_itwillsync__subcmd__server__subcmd__help_commands() {
    local commands; commands=(
'upgrade:Move every session to a new binary (this one, as installed now, by default)\: the running server execs it under the same pid, and nothing is lost' \
'check-state:Check that this binary can read a hand-over state (a descriptor number or a file)\: exit 0, or one line saying why not' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'itwillsync server help commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__server__subcmd__help__subcmd__check-state_commands] )) ||
_itwillsync__subcmd__server__subcmd__help__subcmd__check-state_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync server help check-state commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__server__subcmd__help__subcmd__help_commands] )) ||
_itwillsync__subcmd__server__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync server help help commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__server__subcmd__help__subcmd__upgrade_commands] )) ||
_itwillsync__subcmd__server__subcmd__help__subcmd__upgrade_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync server help upgrade commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__server__subcmd__upgrade_commands] )) ||
_itwillsync__subcmd__server__subcmd__upgrade_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync server upgrade commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__service_commands] )) ||
_itwillsync__subcmd__service_commands() {
    local commands; commands=(
'install:Write the unit (or agent), enable it and start it' \
'uninstall:Stop it, disable it and remove the file' \
'status:Whether it is installed and running' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'itwillsync service commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__service__subcmd__help_commands] )) ||
_itwillsync__subcmd__service__subcmd__help_commands() {
    local commands; commands=(
'install:Write the unit (or agent), enable it and start it' \
'uninstall:Stop it, disable it and remove the file' \
'status:Whether it is installed and running' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'itwillsync service help commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__service__subcmd__help__subcmd__help_commands] )) ||
_itwillsync__subcmd__service__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync service help help commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__service__subcmd__help__subcmd__install_commands] )) ||
_itwillsync__subcmd__service__subcmd__help__subcmd__install_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync service help install commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__service__subcmd__help__subcmd__status_commands] )) ||
_itwillsync__subcmd__service__subcmd__help__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync service help status commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__service__subcmd__help__subcmd__uninstall_commands] )) ||
_itwillsync__subcmd__service__subcmd__help__subcmd__uninstall_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync service help uninstall commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__service__subcmd__install_commands] )) ||
_itwillsync__subcmd__service__subcmd__install_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync service install commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__service__subcmd__status_commands] )) ||
_itwillsync__subcmd__service__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync service status commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__service__subcmd__uninstall_commands] )) ||
_itwillsync__subcmd__service__subcmd__uninstall_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync service uninstall commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__setup_commands] )) ||
_itwillsync__subcmd__setup_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync setup commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__url_commands] )) ||
_itwillsync__subcmd__url_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync url commands' commands "$@"
}
(( $+functions[_itwillsync__subcmd__wait_commands] )) ||
_itwillsync__subcmd__wait_commands() {
    local commands; commands=()
    _describe -t commands 'itwillsync wait commands' commands "$@"
}

if [ "$funcstack[1]" = "_itwillsync" ]; then
    _itwillsync "$@"
else
    compdef _itwillsync itwillsync
fi
