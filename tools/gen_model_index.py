"""Write (or check) the config folders' README.md and metafile.yml, and model-index.yml.

    python tools/gen_model_index.py            # rewrite the files
    python tools/gen_model_index.py --check    # exit 1 naming the files that are stale

The tables come from the resolved configs and the reference numbers from
mmscratch/analysis/paper_reference.py (mmscratch.analysis.model_index); no
number is typed into the generated files by hand.
"""
from pathlib import Path

from mmscratch.analysis.model_index import FOLDERS, generate
from mmscratch.apis.cli import ToolFailure, ToolParser, run_cli
from mmscratch.utils.config_loading import cached_metafile_reads
from mmscratch.utils.atomic_io import atomic_write_text
from mmscratch.utils.config_loading import load_config

REPO = Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = ToolParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', default=str(REPO),
                        help='repository root holding configs/ (default: this repository)')
    parser.add_argument('--folders', nargs='+', choices=FOLDERS, default=list(FOLDERS),
                        help='config folders to generate (model-index.yml needs all)')
    parser.add_argument('--check', action='store_true',
                        help='write nothing; fail if a generated file differs from the one on disk')
    args = parser.parse_args(argv)
    root = Path(args.root)
    if not (root / 'configs').is_dir():
        raise FileNotFoundError(f'no configs/ folder under {root}')
    with cached_metafile_reads():  # each mmdet:: base looked up once, not per config
        files = generate(root, lambda rel: load_config(str(root / rel)), args.folders)
    stale = []
    for rel, text in files.items():
        path = root / rel
        current = path.read_text(encoding='utf-8') if path.is_file() else None
        if current == text:
            continue
        stale.append(rel)
        if not args.check:
            atomic_write_text(str(path), text)
            print(f'wrote {rel}')
    if args.check and stale:
        raise ToolFailure(f'out of date: {", ".join(stale)} (run python tools/gen_model_index.py)')
    if not stale:
        print(f'{len(files)} file(s) up to date')
    return 0


if __name__ == '__main__':
    run_cli(main)
