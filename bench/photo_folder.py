"""Write an image-folder data set of real photographs for timing the loader.

Usage: /usr/bin/python3 bench/photo_folder.py DIR [--per-class N]

Each class is one of scikit-image's sample photographs (Debian
python3-skimage); its images are random crops of it, resized to an
ImageNet-like 500x375 or 375x500 and saved as JPEG at quality 90, so that
decoding costs what it costs on ImageNet. DIR/train/<class>/ and
DIR/val/<class>/ are written; the set is the same for the same arguments.
"""

import argparse
import os
import random

from PIL import Image

SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "hubble_deep_field.jpg"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--per-class", type=int, default=64)
    args = parser.parse_args()
    rng = random.Random(0)
    for split, n in (("train", args.per_class), ("val", max(1, args.per_class // 4))):
        for name in PHOTOS:
            src = Image.open(os.path.join(SKIMAGE, name)).convert("RGB")
            folder = os.path.join(args.dir, split, os.path.splitext(name)[0])
            os.makedirs(folder, exist_ok=True)
            w, h = src.size
            for i in range(n):
                cw, ch = rng.randint(w // 2, w), rng.randint(h // 2, h)
                x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
                size = (500, 375) if rng.random() < 0.7 else (375, 500)
                img = src.crop((x, y, x + cw, y + ch)).resize(size, Image.BILINEAR)
                img.save(os.path.join(folder, "%04d.jpg" % i), quality=90)


if __name__ == "__main__":
    main()
