import os

# Keep the suite quiet and single-process unless a test asks otherwise.
os.environ.setdefault('OMP_NUM_THREADS', '2')
