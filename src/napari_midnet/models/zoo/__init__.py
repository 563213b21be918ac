"""bioimage.io packages read: the format's facts (`common`) and a package as a loaded model (`load`)."""
