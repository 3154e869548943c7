"""The one home of the dataset constants shared by every stage of the pipeline."""

# Normalization of the reference training script (and the seed's preprocess.py):
# torchvision ToTensor() then Normalize(mean, std), per RGB channel.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)

IMAGE_SIZE = 32
CHANNELS = 3
NUM_CLASSES = 10
IMAGE_BYTES_UINT8 = CHANNELS * IMAGE_SIZE * IMAGE_SIZE          # 3072 per CIFAR row
IMAGE_BYTES_FLOAT32 = IMAGE_BYTES_UINT8 * 4                      # 12,288 per .bin

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)

CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"
# genet.data.synthetic's archive: another name than the official one, as its checksum is its own (in a .md5 beside it)
GENERATED_ARCHIVE = "generated-cifar-10-python.tar.gz"

# Names of the ONNX graph's input and output, as in the seed's pthtar2onnx.py.
ONNX_INPUT_NAME = "image"
ONNX_OUTPUT_NAME = "class"

# preprocess.py's output: one .bin per image, their labels, and with --packed every image in one array
# (read by benchmark.py in one go) with its manifest.
LABEL_FILE = "val_label.txt"
PACKED_IMAGES = "images.npy"
PACKED_LABELS = "labels.npy"
PACKED_MANIFEST = "packed.json"          # what images.npy holds, proved by hashes (genet.formats.packed)
