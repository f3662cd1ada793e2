# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_itwillsync_global_optspecs
    string join \n v/version h/help
end

function __fish_itwillsync_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_itwillsync_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_itwillsync_using_subcommand
    set -l cmd (__fish_itwillsync_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c itwillsync -n "__fish_itwillsync_needs_command" -s v -l version -d 'Print version (`-v`, as the original tool has it, or `-V`)'
complete -c itwillsync -n "__fish_itwillsync_needs_command" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_needs_command" -f -a "new" -d 'Start a session (and the server if needed), print its phone link, attach'
complete -c itwillsync -n "__fish_itwillsync_needs_command" -f -a "attach" -d 'Attach this terminal to a session (default: the most recently active)'
complete -c itwillsync -n "__fish_itwillsync_needs_command" -f -a "ls" -d 'List sessions'
complete -c itwillsync -n "__fish_itwillsync_needs_command" -f -a "kill" -d 'End a session\'s program (hang up, then kill after a grace period)'
complete -c itwillsync -n "__fish_itwillsync_needs_command" -f -a "rename" -d 'Rename a session'
complete -c itwillsync -n "__fish_itwillsync_needs_command" -f -a "url" -d 'Print a session\'s phone link (its key is in the `#` fragment)'
complete -c itwillsync -n "__fish_itwillsync_needs_command" -f -a "hub" -d 'The server: info (the default), status, stop'
complete -c itwillsync -n "__fish_itwillsync_needs_command" -f -a "setup" -d 'Choose how phones reach this machine: writes `networkingMode` to config.json'
complete -c itwillsync -n "__fish_itwillsync_needs_command" -f -a "server" -d 'Run the server in the foreground (normally started automatically), or upgrade the running one'
complete -c itwillsync -n "__fish_itwillsync_needs_command" -f -a "service" -d 'Run the server as a user service: a systemd user unit (Linux) or a launchd agent (macOS)'
complete -c itwillsync -n "__fish_itwillsync_needs_command" -f -a "machine" -d 'Other machines, reached over ssh'
complete -c itwillsync -n "__fish_itwillsync_needs_command" -f -a "bridge" -d 'Join stdin/stdout to this machine\'s server (starting it if needed); other machines run it over ssh'
complete -c itwillsync -n "__fish_itwillsync_needs_command" -f -a "events" -d 'Print lifecycle events as JSON lines, until the server stops'
complete -c itwillsync -n "__fish_itwillsync_needs_command" -f -a "wait" -d 'Wait until a session exits or needs attention: exit 0 then, 1 on timeout'
complete -c itwillsync -n "__fish_itwillsync_needs_command" -f -a "logs" -d 'Print the server\'s log'
complete -c itwillsync -n "__fish_itwillsync_needs_command" -f -a "completions" -d 'Print shell completions'
complete -c itwillsync -n "__fish_itwillsync_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand new" -l name -d 'Session name (default: the program\'s name)' -r
complete -c itwillsync -n "__fish_itwillsync_using_subcommand new" -l cwd -d 'Working directory (default: the current one)' -r -F
complete -c itwillsync -n "__fish_itwillsync_using_subcommand new" -l port -d 'Phone port for this session (default: the next free one)' -r
complete -c itwillsync -n "__fish_itwillsync_using_subcommand new" -l on -d 'Start it on another machine (`machine add`); its program is found on that machine\'s PATH and `--cwd` is a directory there (default: its home)' -r
complete -c itwillsync -n "__fish_itwillsync_using_subcommand new" -s d -l detach -d 'Do not attach; print the session id'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand new" -l localhost -d 'Phones reach the session on 127.0.0.1 only'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand new" -l tailscale -d 'Phones reach the session on the Tailscale address'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand new" -l local -d 'Phones reach the session on the LAN address'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand new" -l no-qr -d 'Do not print a QR code'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand new" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand attach" -l read-only -d 'Watch without typing or resizing'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand attach" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand ls" -l json -d 'One JSON array, for scripts'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand ls" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand kill" -s s -l signal -d 'Send this signal instead (name like TERM or number)' -r
complete -c itwillsync -n "__fish_itwillsync_using_subcommand kill" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand rename" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand url" -l qr -d 'Also print a QR code'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand url" -l read-only -d 'The read-only link: it can watch but never type or resize'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand url" -l rotate -d 'Replace the link\'s key first: every client that used the old link is disconnected and the old link stops working'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand url" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand hub; and not __fish_seen_subcommand_from info status stop rotate help" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand hub; and not __fish_seen_subcommand_from info status stop rotate help" -f -a "info" -d 'The server\'s details and sessions'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand hub; and not __fish_seen_subcommand_from info status stop rotate help" -f -a "status" -d 'The session table'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand hub; and not __fish_seen_subcommand_from info status stop rotate help" -f -a "stop" -d 'Stop the server and every session'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand hub; and not __fish_seen_subcommand_from info status stop rotate help" -f -a "rotate" -d 'Replace the dashboard\'s master key: saved dashboard links stop working and open dashboard pages are disconnected'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand hub; and not __fish_seen_subcommand_from info status stop rotate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand hub; and __fish_seen_subcommand_from info" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand hub; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand hub; and __fish_seen_subcommand_from stop" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand hub; and __fish_seen_subcommand_from rotate" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand hub; and __fish_seen_subcommand_from help" -f -a "info" -d 'The server\'s details and sessions'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand hub; and __fish_seen_subcommand_from help" -f -a "status" -d 'The session table'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand hub; and __fish_seen_subcommand_from help" -f -a "stop" -d 'Stop the server and every session'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand hub; and __fish_seen_subcommand_from help" -f -a "rotate" -d 'Replace the dashboard\'s master key: saved dashboard links stop working and open dashboard pages are disconnected'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand hub; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand setup" -l mode -d 'The mode; without it, `setup` asks (on a terminal)' -r -f -a "local\t'The LAN address'
tailscale\t'The Tailscale address'
localhost\t'127.0.0.1 only'"
complete -c itwillsync -n "__fish_itwillsync_using_subcommand setup" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand server; and not __fish_seen_subcommand_from upgrade check-state help" -l adopt -d 'Take over from a server that exec\'d this binary with its state in descriptor FD (used by `server upgrade`)' -r
complete -c itwillsync -n "__fish_itwillsync_using_subcommand server; and not __fish_seen_subcommand_from upgrade check-state help" -l daemon -d 'Report readiness on stdout, then detach stdio (used by auto-start)'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand server; and not __fish_seen_subcommand_from upgrade check-state help" -l stay -d 'Never exit when idle (as if `idleShutdownSecs` were 0): how a service runs it'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand server; and not __fish_seen_subcommand_from upgrade check-state help" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand server; and not __fish_seen_subcommand_from upgrade check-state help" -f -a "upgrade" -d 'Move every session to a new binary (this one, as installed now, by default): the running server execs it under the same pid, and nothing is lost'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand server; and not __fish_seen_subcommand_from upgrade check-state help" -f -a "check-state" -d 'Check that this binary can read a hand-over state (a descriptor number or a file): exit 0, or one line saying why not'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand server; and not __fish_seen_subcommand_from upgrade check-state help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand server; and __fish_seen_subcommand_from upgrade" -l binary -d 'The new binary' -r -F
complete -c itwillsync -n "__fish_itwillsync_using_subcommand server; and __fish_seen_subcommand_from upgrade" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand server; and __fish_seen_subcommand_from check-state" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand server; and __fish_seen_subcommand_from help" -f -a "upgrade" -d 'Move every session to a new binary (this one, as installed now, by default): the running server execs it under the same pid, and nothing is lost'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand server; and __fish_seen_subcommand_from help" -f -a "check-state" -d 'Check that this binary can read a hand-over state (a descriptor number or a file): exit 0, or one line saying why not'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand server; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand service; and not __fish_seen_subcommand_from install uninstall status help" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand service; and not __fish_seen_subcommand_from install uninstall status help" -f -a "install" -d 'Write the unit (or agent), enable it and start it'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand service; and not __fish_seen_subcommand_from install uninstall status help" -f -a "uninstall" -d 'Stop it, disable it and remove the file'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand service; and not __fish_seen_subcommand_from install uninstall status help" -f -a "status" -d 'Whether it is installed and running'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand service; and not __fish_seen_subcommand_from install uninstall status help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand service; and __fish_seen_subcommand_from install" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand service; and __fish_seen_subcommand_from uninstall" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand service; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand service; and __fish_seen_subcommand_from help" -f -a "install" -d 'Write the unit (or agent), enable it and start it'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand service; and __fish_seen_subcommand_from help" -f -a "uninstall" -d 'Stop it, disable it and remove the file'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand service; and __fish_seen_subcommand_from help" -f -a "status" -d 'Whether it is installed and running'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand service; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand machine; and not __fish_seen_subcommand_from add ls rm help" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand machine; and not __fish_seen_subcommand_from add ls rm help" -f -a "add" -d 'Remember a machine: NAME for commands, DEST for ssh (`user@host`, a `~/.ssh/config` alias...)'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand machine; and not __fish_seen_subcommand_from add ls rm help" -f -a "ls" -d 'The machines, whether each answers, and its session count'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand machine; and not __fish_seen_subcommand_from add ls rm help" -f -a "rm" -d 'Forget a machine'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand machine; and not __fish_seen_subcommand_from add ls rm help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand machine; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand machine; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand machine; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand machine; and __fish_seen_subcommand_from help" -f -a "add" -d 'Remember a machine: NAME for commands, DEST for ssh (`user@host`, a `~/.ssh/config` alias...)'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand machine; and __fish_seen_subcommand_from help" -f -a "ls" -d 'The machines, whether each answers, and its session count'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand machine; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Forget a machine'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand machine; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand bridge" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand events" -l machine -d 'Only this machine\'s events (`local` for this one)' -r
complete -c itwillsync -n "__fish_itwillsync_using_subcommand events" -l session -d 'Only this session\'s events (id or name)' -r
complete -c itwillsync -n "__fish_itwillsync_using_subcommand events" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand wait" -l for -d 'What to wait for' -r -f -a "exit\t'The session\'s program exits'
attention\t'The program rings the bell or sends a notification'"
complete -c itwillsync -n "__fish_itwillsync_using_subcommand wait" -l timeout -d 'Give up after this many seconds' -r
complete -c itwillsync -n "__fish_itwillsync_using_subcommand wait" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand logs" -l machine -d 'Another machine\'s (`machine add`), through this machine\'s server; `local` is this one (the default)' -r
complete -c itwillsync -n "__fish_itwillsync_using_subcommand logs" -s f -l follow -d 'Keep printing what is added, as `tail -f` does'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand logs" -l all -d 'Every machine\'s log (this one\'s and each one `machine ls` shows), each line after its machine\'s name; with `-f`, interleaved as lines arrive'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand logs" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand completions" -s h -l help -d 'Print help'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and not __fish_seen_subcommand_from new attach ls kill rename url hub setup server service machine bridge events wait logs completions help" -f -a "new" -d 'Start a session (and the server if needed), print its phone link, attach'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and not __fish_seen_subcommand_from new attach ls kill rename url hub setup server service machine bridge events wait logs completions help" -f -a "attach" -d 'Attach this terminal to a session (default: the most recently active)'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and not __fish_seen_subcommand_from new attach ls kill rename url hub setup server service machine bridge events wait logs completions help" -f -a "ls" -d 'List sessions'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and not __fish_seen_subcommand_from new attach ls kill rename url hub setup server service machine bridge events wait logs completions help" -f -a "kill" -d 'End a session\'s program (hang up, then kill after a grace period)'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and not __fish_seen_subcommand_from new attach ls kill rename url hub setup server service machine bridge events wait logs completions help" -f -a "rename" -d 'Rename a session'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and not __fish_seen_subcommand_from new attach ls kill rename url hub setup server service machine bridge events wait logs completions help" -f -a "url" -d 'Print a session\'s phone link (its key is in the `#` fragment)'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and not __fish_seen_subcommand_from new attach ls kill rename url hub setup server service machine bridge events wait logs completions help" -f -a "hub" -d 'The server: info (the default), status, stop'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and not __fish_seen_subcommand_from new attach ls kill rename url hub setup server service machine bridge events wait logs completions help" -f -a "setup" -d 'Choose how phones reach this machine: writes `networkingMode` to config.json'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and not __fish_seen_subcommand_from new attach ls kill rename url hub setup server service machine bridge events wait logs completions help" -f -a "server" -d 'Run the server in the foreground (normally started automatically), or upgrade the running one'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and not __fish_seen_subcommand_from new attach ls kill rename url hub setup server service machine bridge events wait logs completions help" -f -a "service" -d 'Run the server as a user service: a systemd user unit (Linux) or a launchd agent (macOS)'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and not __fish_seen_subcommand_from new attach ls kill rename url hub setup server service machine bridge events wait logs completions help" -f -a "machine" -d 'Other machines, reached over ssh'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and not __fish_seen_subcommand_from new attach ls kill rename url hub setup server service machine bridge events wait logs completions help" -f -a "bridge" -d 'Join stdin/stdout to this machine\'s server (starting it if needed); other machines run it over ssh'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and not __fish_seen_subcommand_from new attach ls kill rename url hub setup server service machine bridge events wait logs completions help" -f -a "events" -d 'Print lifecycle events as JSON lines, until the server stops'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and not __fish_seen_subcommand_from new attach ls kill rename url hub setup server service machine bridge events wait logs completions help" -f -a "wait" -d 'Wait until a session exits or needs attention: exit 0 then, 1 on timeout'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and not __fish_seen_subcommand_from new attach ls kill rename url hub setup server service machine bridge events wait logs completions help" -f -a "logs" -d 'Print the server\'s log'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and not __fish_seen_subcommand_from new attach ls kill rename url hub setup server service machine bridge events wait logs completions help" -f -a "completions" -d 'Print shell completions'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and not __fish_seen_subcommand_from new attach ls kill rename url hub setup server service machine bridge events wait logs completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and __fish_seen_subcommand_from hub" -f -a "info" -d 'The server\'s details and sessions'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and __fish_seen_subcommand_from hub" -f -a "status" -d 'The session table'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and __fish_seen_subcommand_from hub" -f -a "stop" -d 'Stop the server and every session'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and __fish_seen_subcommand_from hub" -f -a "rotate" -d 'Replace the dashboard\'s master key: saved dashboard links stop working and open dashboard pages are disconnected'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and __fish_seen_subcommand_from server" -f -a "upgrade" -d 'Move every session to a new binary (this one, as installed now, by default): the running server execs it under the same pid, and nothing is lost'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and __fish_seen_subcommand_from server" -f -a "check-state" -d 'Check that this binary can read a hand-over state (a descriptor number or a file): exit 0, or one line saying why not'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and __fish_seen_subcommand_from service" -f -a "install" -d 'Write the unit (or agent), enable it and start it'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and __fish_seen_subcommand_from service" -f -a "uninstall" -d 'Stop it, disable it and remove the file'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and __fish_seen_subcommand_from service" -f -a "status" -d 'Whether it is installed and running'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and __fish_seen_subcommand_from machine" -f -a "add" -d 'Remember a machine: NAME for commands, DEST for ssh (`user@host`, a `~/.ssh/config` alias...)'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and __fish_seen_subcommand_from machine" -f -a "ls" -d 'The machines, whether each answers, and its session count'
complete -c itwillsync -n "__fish_itwillsync_using_subcommand help; and __fish_seen_subcommand_from machine" -f -a "rm" -d 'Forget a machine'
