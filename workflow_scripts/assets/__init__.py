"""The assets every explanation needs: images, the homework Classifier and its checkpoint, the
offline set and its training, the homework bundle."""
