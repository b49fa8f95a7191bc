"""Rewrite a checkpoint as plain data (no numpy or pickled objects inside).

    python tools/convert_checkpoint.py work_dirs/old_run/iter_90000.pth iter_90000_plain.pth

Reads the file as data (checkpoints of stock MMEngine or of mmscratch before
its plain format hold numpy arrays and HistoryBuffers; they are rebuilt from
validated bytes, never by calling a constructor from the file) and writes a
new file that torch's default ``weights_only`` loader reads with nothing
allow-listed. The output must not exist. See docs/security.md.
"""
import argparse

from mmscratch.apis.cli import run_cli
from mmscratch.checkpoint import convert_checkpoint


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='checkpoint to read')
    parser.add_argument('dst', help='plain-data checkpoint to create (must not exist)')
    args = parser.parse_args(argv)
    checkpoint = convert_checkpoint(args.src, args.dst)
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    where = f" (iteration {meta['iter']})" if isinstance(meta, dict) and 'iter' in meta else ''
    print(f'wrote {args.dst}{where}')


if __name__ == '__main__':
    run_cli(main)
