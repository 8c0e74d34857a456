"""similar: similar-paper recommendations for biomedical literature."""
from .errors import NotFound, SimilarError
from .index import Index, Neighbor, PaperInfo, SimilarList

__version__ = "0.1.0"
__all__ = ["Index", "Neighbor", "PaperInfo", "SimilarList", "SimilarError", "NotFound", "__version__"]
