"""The Slicer side: MRML nodes, the scripting API, sample data, the PyTorch install and the child process."""
