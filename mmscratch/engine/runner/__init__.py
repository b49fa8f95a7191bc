from .scratch_loop import ScratchIterBasedTrainLoop, images_per_device

__all__ = ['ScratchIterBasedTrainLoop', 'images_per_device']
