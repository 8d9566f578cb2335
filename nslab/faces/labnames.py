"""The bundled labs by name: `nslab labs` lists them, and `nslab completion bash` completes them
(with files) after `nslab run`, `nslab check` and `nslab web`, as the REPL does after `source` and `check`."""

from __future__ import annotations

from typing import Any

from ..base.environment import Environment
from ..lang.bundled import bundled_dir, bundled_exercises, bundled_labs

# bash: `eval "$(nslab completion bash)"` (or save it as /etc/bash_completion.d/nslab).  The names
# are asked of nslab itself at each Tab, so labs added to the package complete with no new script.
BASH = r'''_nslab() {
    local cur=${COMP_WORDS[COMP_CWORD]} sub="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in --lab) ((i++)) ;; -*) ;; *) sub=${COMP_WORDS[i]}; break ;; esac
    done
    if [[ -z $sub ]]; then
        COMPREPLY=($(compgen -W "run check web labs image reset clean repl attach completion" -- "$cur"))
    elif [[ $sub == run || $sub == check || $sub == web ]] && [[ $cur != -* ]]; then
        local IFS=$'\n'
        COMPREPLY=($(compgen -W "$(nslab labs --names 2>/dev/null)" -- "$cur") $(compgen -f -- "$cur"))
    fi
}
complete -o filenames -F _nslab nslab
'''


def cmd_labs(args: Any, env: Environment, render: Any) -> int:
    found = bundled_labs() + bundled_exercises()  # exercises/NAME: an exercise
    if getattr(args, "names", False):
        env.stdout.write("".join(f"{name}\n" for name, _ in found))
        return 0
    from ..base.results import Table

    rows = [[name, title] for name, title in found]
    render(Table(f"bundled labs and exercises ({bundled_dir()})", ["lab", "title"], rows, key="labs"))
    return 0


def cmd_completion(args: Any, env: Environment) -> int:
    env.stdout.write(BASH)
    return 0
