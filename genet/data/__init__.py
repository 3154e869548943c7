"""Step 3, the data: the CIFAR-10 reader (`cifar`), the generated stand-in (`synthetic`), preprocessing into
`.bin` files (`preprocess`) and the mark that labels generated data (`provenance`). It may import core and formats.
"""
