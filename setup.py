"""tfaudio: TensorFlow 2 / Keras 3 toolkit for five audio research systems."""
from setuptools import find_packages, setup

#: The model versions that ship with the package (tfaudio/systems/*/shipped.py).
SHIPPED = "qualitynet/2"

setup(
    name="tfaudio",
    version="0.1.0",
    description="Train, evaluate and ship audio ML systems (DFE, COLA, ASR<->SER, "
    "Quality-Net, weakly labeled SED) with TensorFlow 2 and Keras 3.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # The recipes live at the top level (pipelines/<system>/*.json) and install as
    # tfaudio/pipelines, so a wheel or a non-editable install carries them; the shipped
    # models (exported_models/<model>/<version>/, committed) install as
    # tfaudio/exported_models the same way. Other export versions are not shipped.
    packages=find_packages(include=["tfaudio", "tfaudio.*"])
    + ["tfaudio.pipelines", "tfaudio.exported_models"],
    package_dir={"tfaudio.pipelines": "pipelines", "tfaudio.exported_models": "exported_models"},
    package_data={"tfaudio.pipelines": ["*/*.json"],
                  "tfaudio.exported_models": [f"{SHIPPED}/{pattern}" for pattern in
                                              ("*", "*/*", "*/*/*")]},
    install_requires=[
        "tensorflow>=2.21,<2.22",  # CPU build on Linux; see README for GPU
        "keras>=3.10",
        "tensorboard>=2.19",  # tf.summary scalars of every run
        "ai-edge-litert>=2.0",  # LiteRT runtime used to check TFLite exports
        "librosa>=0.10",
        "soundfile>=0.12",
        "soxr>=0.3",
        "pandas>=2.0",
        "tabulate>=0.9",  # pandas.DataFrame.to_markdown for the paper tables
        "numpy>=1.26",
        "scipy>=1.11",
        "matplotlib>=3.7",
        "tqdm>=4.60",
        "pesq>=0.0.4",
        "scikit-learn>=1.3",  # the simple baseline row of every results table
        "sed_eval>=0.2.1",  # event- and segment-based F1 of sound event detection (DCASE)
        "sed_scores_eval>=0.0.4",  # PSDS from frame scores (the DCASE implementation)
        "hmmlearn>=0.3",  # monophone GMM-HMM state alignment of TIMIT frame labels
        "editdistance>=0.6",  # phone error rate (Levenshtein distance of phone strings)
        "tensorflow-serving-api>=2.21,<2.22",  # PredictionLog protos of the TF Serving warmup files
    ],
    extras_require={
        "test": ["pytest>=7"],
        # benchmark-only: the PyTorch peer of benchmarks/sed_peer.py (never imported by tfaudio)
        "bench": ["torch==2.13.0"],
    },
    entry_points={
        "console_scripts": [
            "tfaudio-train=tfaudio.cli.train:main",
            "tfaudio-eval=tfaudio.cli.evaluate:main",
            "tfaudio-export=tfaudio.cli.export:main",
            "tfaudio-score=tfaudio.systems.qualitynet.scorer:main",
            "tfaudio-make-quality-set=tfaudio.systems.qualitynet.labels_cli:main",
            "tfaudio-detect=tfaudio.systems.sed.detect:main",
            "tfaudio-recognize=tfaudio.systems.transfer.recognize:main",
            "tfaudio-prepare=tfaudio.cli.prepare:main",
            "tfaudio-embed=tfaudio.systems.cola.embed:main",
            "tfaudio-data-service=tfaudio.cli.data_service:main",
        ]
    },
)
