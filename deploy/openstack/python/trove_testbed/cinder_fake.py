"""Cinder's shipped fake volume driver, able to extend: FakeLoggingVolumeDriver's FakeBrickLVM has no
extend_volume (volume → error_extending); volumes have no bytes here, so extending is a no-op."""
from cinder.tests import fake_driver


class ExtendableFakeDriver(fake_driver.FakeLoggingVolumeDriver):
    def extend_volume(self, volume, new_size):
        pass
