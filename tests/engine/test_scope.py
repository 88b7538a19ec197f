"""mcudet models build their sub-modules in mcudet's scope even when the default scope is mmdet."""
from mmengine.registry import DefaultScope

from mcudet.registry import build_model


def test_nested_mcudet_names_build_under_an_mmdet_default_scope():
    import mcudet.models  # noqa: F401  (registers the models)
    with DefaultScope.overwrite_default_scope('mmdet'):
        wrapper = build_model(dict(type='PatchBasedBackbone', patches='2x2', split=2,
                                    backbone=dict(type='MCUNetV2Backbone', arch='mbv2-w0.35')))
        assert type(wrapper.backbone).__name__ == 'MCUNetV2Backbone'
        cls = build_model(dict(type='ImageClassifier',
                                backbone=dict(type='MCUNetV2Backbone', arch='mcunet-in0'),
                                neck=dict(type='GlobalAveragePooling'),
                                head=dict(type='LinearClsHead', num_classes=2, in_channels=192)))
        assert type(cls.backbone).__name__ == 'MCUNetV2Backbone'
    # The direct constructor (as tools and tests use it) builds its inner dict in mcudet's scope too.
    from mcudet.models.backbones import PatchBasedBackbone
    with DefaultScope.overwrite_default_scope('mmdet'):
        wrapper = PatchBasedBackbone(backbone=dict(type='MCUNetV2Backbone', arch='mbv2-w0.35'),
                                     patches='2x2', split=2)
        assert type(wrapper.backbone).__name__ == 'MCUNetV2Backbone'
