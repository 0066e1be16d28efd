"""The lab's MLP on image descriptors instead of pixels.

    imagelab mlp-study --features hog --learning-rate 3 --num-epoch 1000

The same network and full-batch training as ``python mlp.py`` (same flags), on the
descriptors a spec names (see ``imagelab/data/descriptors.py``); writes ``mlp_<spec>.png``
and ``mlp_<spec>.json``.
"""
from imagelab.cli.arguments import ArgumentParser, validated
from imagelab.data.registry import DATASETS
from imagelab.data.descriptors import describer, parse_feature_spec
from imagelab.cli.mlp import add_lab_arguments, train_and_save


def main(argv=None):
    parser = ArgumentParser(prog="imagelab mlp-study",
                            description="Train the lab's MLP on image descriptors.")
    add_lab_arguments(parser)
    parser.add_argument("--features", type=validated(parse_feature_spec), required=True,
                        metavar="SPEC",
                        help="a descriptor spec such as hog, lbp, color or hog+color "
                             "(needs scikit-image)")
    args = parser.parse_args(argv)
    with parser.flag_errors():
        train_and_save(args.data_dir, args.results_dir, args.split, args.seed, args.d_h,
                       args.learning_rate, args.num_epoch, download=not args.no_download,
                       features=describer(args.features, args.data_dir,
                                          DATASETS[args.dataset].image_shape),
                       spec=args.features, dataset=args.dataset)


if __name__ == "__main__":
    main()
